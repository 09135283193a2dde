"""images / image ls, inspect, tag, rmi, history, prune, system df (docker CLI, berth CLI, docker-py)."""
from __future__ import annotations

import json
import re

import docker
import pytest

from helpers import images as I
from helpers.checks import FULL_ID, SHORT_ID, assert_image, images_json, short


@pytest.fixture
def pulled(berthd, reg_http, uniq):
    """A fresh image pulled under a unique repo: (ref, Image, repo)."""
    im = I.fancy_image(labels={"uniq": uniq}, history=[
        {"created": I.CREATED, "created_by": "/bin/sh -c #(nop) ADD file:busybox in / "},
        {"created": I.CREATED, "created_by": "/bin/sh -c #(nop) COPY dir:fancy in /data ", "comment": "fancy"},
        {"created": I.CREATED, "created_by": "/bin/sh -c rm -rf /data/remove-me.txt"},
        {"created": I.CREATED, "created_by": "/bin/sh -c #(nop)  CMD [\"echo\" \"hello\"]", "empty_layer": True},
    ])
    repo = f"img/{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    berthd.docker("pull", "-q", ref).check()
    return ref, im, f"{reg_http.host}/{repo}"


def test_images_list_formats(berthd, pulled):
    ref, im, repo = pulled
    out = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}").check().lines()
    assert ref in out
    # -q: short ids, unique per image
    q = berthd.docker("images", "-q").check().lines()
    assert short(im.id) in q and all(SHORT_ID.match(x) for x in q)
    qa = berthd.docker("images", "-a", "-q", "--no-trunc").check().lines()
    assert im.id in qa and all(FULL_ID.match(x) for x in qa)
    # --digests adds the DIGEST column
    d = berthd.docker("images", "--digests", "--filter", f"reference={repo}").check()
    hdr = d.lines()[0].split()
    assert hdr[:3] == ["REPOSITORY", "TAG", "DIGEST"] and "IMAGE" in hdr
    assert d.lines()[1].split()[:3] == [repo, "latest", im.digest]
    # default table
    t = berthd.docker("images", "--filter", f"reference={repo}").check().lines()
    assert re.split(r"\s{2,}", t[0].strip()) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    assert t[1].split()[:3] == [repo, "latest", short(im.id)]
    # {{json .}}
    js = [json.loads(l) for l in berthd.docker("images", "--format", "{{json .}}", "--filter",
                                                f"reference={repo}").check().lines()]
    assert len(js) == 1
    for k in ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size",
              "Tag", "UniqueSize", "VirtualSize"):
        assert k in js[0], k
    assert (js[0]["Repository"], js[0]["Tag"], js[0]["ID"]) == (repo, "latest", short(im.id))
    # table format
    tb = berthd.docker("images", "--format", "table {{.ID}}", "--filter", f"reference={repo}").check().lines()
    assert tb == ["IMAGE ID", short(im.id)]


def test_images_filters(berthd, pulled, uniq):
    ref, im, repo = pulled
    berthd.docker("tag", ref, f"local/filter-{uniq}:one").check()
    out = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={repo}").check()
    assert out.lines() == [ref]
    out = berthd.docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter",
                        f"reference=local/filter-{uniq}:*").check()
    assert out.lines() == [f"local/filter-{uniq}:one"]
    assert berthd.docker("images", "-q", "--filter", "reference=nothing/matches-this").check().out == ""
    # positional repository argument
    out = berthd.docker("images", "--format", "{{.Tag}}", f"local/filter-{uniq}").check()
    assert out.lines() == ["one"]
    bad = berthd.docker("images", "--filter", "nonsense=1")
    assert bad.rc == 1 and "invalid filter 'nonsense'" in bad.err.lower(), bad
    lbl = berthd.docker("images", "-q", "--filter", f"label=uniq={uniq}").check().lines()
    assert set(lbl) == {short(im.id)}  # one line per repo:tag, like Docker


def test_images_dangling_and_prune(berthd, reg_http, uniq):
    repo = f"img/dangle-{uniq}"
    ref = reg_http.ref(repo)
    a = I.busybox_image(labels={"v": "a", "u": uniq})
    b = I.busybox_image(labels={"v": "b", "u": uniq})
    reg_http.push_image(repo, a)
    berthd.docker("pull", "-q", ref).check()
    reg_http.push_image(repo, b)
    berthd.docker("pull", "-q", ref).check()
    assert berthd.inspect(ref)["Id"] == b.id
    old = berthd.inspect(a.id)
    assert old is not None and old["RepoTags"] == []
    dang = berthd.docker("images", "--filter", "dangling=true", "-q", "--no-trunc").check().lines()
    assert a.id in dang and b.id not in dang
    listed = berthd.docker("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}", "-a").check().lines()
    assert f"{reg_http.host}/{repo} <none> {short(a.id)}" in listed
    r = berthd.docker("image", "prune", "-f")
    assert r.rc == 0, r
    assert "Deleted Images:" in r.out and f"deleted: {a.id}" in r.out
    assert re.search(r"Total reclaimed space: [\d.]+[kMG]?B", r.out), r.out
    assert berthd.inspect(a.id) is None
    assert berthd.inspect(ref)["Id"] == b.id
    r = berthd.docker("image", "prune", "-f")
    assert r.rc == 0 and "Total reclaimed space: 0B" in r.out, r


def test_image_inspect_fields(berthd, pulled):
    ref, im, repo = pulled
    for client in ("docker", "berth"):
        r = berthd.cli(client, "image", "inspect", ref)
        assert r.rc == 0, r
        arr = json.loads(r.out)
        assert isinstance(arr, list) and len(arr) == 1
        info = arr[0]
        assert info["Id"] == im.id
        assert info["RepoTags"] == [ref]
        assert info["RepoDigests"] == [f"{repo}@{im.digest}"]
        assert info["Config"]["Env"] == im.env
        assert info["Config"]["Cmd"] == ["echo", "hello"]
        assert info["Config"]["Entrypoint"] == ["/bin/sh", "-c"]
        assert info["Config"]["WorkingDir"] == "/data"
        assert info["Config"]["Labels"]["uniq"] == im.labels["uniq"]
        assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
        assert info["RootFS"] == {"Type": "layers", "Layers": im.diff_ids}
        assert info["Architecture"] == "amd64" and info["Os"] == "linux"
        assert info["Created"].startswith("2023-11-14T22:13:20")
        assert info["Size"] > 0
    # -f on the whole image and on one field
    f = berthd.docker("inspect", "-f", "{{.Id}} {{.Architecture}} {{.Os}}", ref).check().out.strip()
    assert f == f"{im.id} amd64 linux"
    f = berthd.docker("image", "inspect", "--format", "{{json .Config.Cmd}}", ref).check().out.strip()
    assert json.loads(f) == ["echo", "hello"]
    # by short id, long id, and repo@digest
    for key in (short(im.id), im.id, f"{repo}@{im.digest}"):
        assert berthd.docker("image", "inspect", "-f", "{{.Id}}", key).check().out.strip() == im.id, key
    # docker-py
    img = berthd.client.images.get(ref)
    assert img.id == im.id and img.tags == [ref] and img.labels["uniq"] == im.labels["uniq"]
    attrs = berthd.client.api.inspect_image(ref)
    assert attrs["RootFS"]["Layers"] == im.diff_ids


def test_image_inspect_unknown(berthd):
    for client in ("docker", "berth"):
        r = berthd.cli(client, "image", "inspect", "nosuchimage:nope")
        assert r.rc == 1, r
        assert "No such image: nosuchimage:nope" in r.err, r
        assert r.out.strip() == "[]"
    with pytest.raises(docker.errors.ImageNotFound):
        berthd.client.images.get("nosuchimage:nope")
    r = berthd.api("GET", "/images/nosuchimage:nope/json")
    assert r.status == 404 and r.json()["message"].endswith("No such image: nosuchimage:nope"), r


def test_tag_and_rmi(berthd, pulled, uniq):
    ref, im, repo = pulled
    t1, t2 = f"local/tag-{uniq}:one", f"local/tag-{uniq}-b:two"
    r = berthd.docker("tag", ref, t1)
    assert r.rc == 0 and r.out == "" and r.err == "", r
    assert berthd.berth("tag", ref, t2).rc == 0
    tags = berthd.inspect(ref)["RepoTags"]
    assert set(tags) == {ref, t1, t2}
    # by id with several repositories: conflict unless forced
    r = berthd.docker("rmi", short(im.id))
    assert r.rc == 1, r
    assert (f"Error response from daemon: conflict: unable to delete {short(im.id)} (must be forced) - "
            f"image is referenced in multiple repositories") in r.err, r
    # untag only
    r = berthd.docker("rmi", t1)
    assert r.rc == 0, r
    assert r.out.strip() == f"Untagged: {t1}"
    assert berthd.inspect(ref) is not None
    r = berthd.berth("rmi", t2)
    assert r.rc == 0 and r.out.strip() == f"Untagged: {t2}", r
    # last tag: untag + repo digest + delete image and its layers
    r = berthd.docker("rmi", ref)
    assert r.rc == 0, r
    lines = r.lines()
    assert lines[0] == f"Untagged: {ref}"
    assert f"Untagged: {repo}@{im.digest}" in lines
    assert f"Deleted: {im.id}" in lines
    assert berthd.inspect(im.id) is None


def test_tag_errors(berthd, pulled, uniq):
    ref, im, repo = pulled
    for client in ("docker", "berth"):
        r = berthd.cli(client, "tag", "nosuch:img", f"local/x-{uniq}")
        assert r.rc == 1, r
        assert r.err.strip() == "Error response from daemon: No such image: nosuch:img", r
        r = berthd.cli(client, "tag", ref, "Bad/Name")
        assert r.rc == 1 and "invalid reference format" in r.err, r


@pytest.mark.parametrize("client", ["docker", "berth"])
def test_rmi_unknown(berthd, client):
    r = berthd.cli(client, "rmi", "x")
    assert r.rc == 1, r
    assert r.err.strip() == "Error response from daemon: No such image: x:latest", r
    with pytest.raises(docker.errors.ImageNotFound):
        berthd.client.images.remove("x")


def test_rmi_force_by_id_removes_all_tags(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"force": uniq})
    repo = f"img/force-{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    berthd.docker("pull", "-q", ref).check()
    berthd.docker("tag", ref, f"local/force-{uniq}:a").check()
    r = berthd.docker("rmi", "-f", short(im.id))
    assert r.rc == 0, r
    assert f"Untagged: {ref}" in r.out and f"Untagged: local/force-{uniq}:a" in r.out
    assert f"Deleted: {im.id}" in r.out
    assert berthd.inspect(im.id) is None


def test_rmi_dockerpy(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"py-rmi": uniq})
    repo = f"img/pyrmi-{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    berthd.client.images.pull(ref)
    res = berthd.client.api.remove_image(ref)
    assert {"Untagged": ref} in res and {"Deleted": im.id} in res, res


def test_image_history(berthd, pulled):
    ref, im, repo = pulled
    r = berthd.docker("history", ref)
    assert r.rc == 0, r
    assert re.split(r"\s{2,}", r.lines()[0].strip()) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert len(r.lines()) == 1 + len(im.history)
    cb = berthd.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).check().lines()
    assert cb == [h["created_by"] for h in reversed(im.history)]
    ids = berthd.docker("history", "-q", "--no-trunc", ref).check().lines()
    assert ids[0] == im.id and all(i == "<missing>" for i in ids[1:])
    h = berthd.client.api.history(ref)
    assert len(h) == len(im.history) and h[0]["Id"] == im.id
    assert h[0]["Tags"] == [ref]
    assert [x["CreatedBy"] for x in h] == [e["created_by"] for e in reversed(im.history)]
    assert h[-1]["Size"] > 1_000_000  # busybox layer
    assert h[0]["Size"] == 0  # empty_layer
    assert h[2]["Comment"] == "fancy"
    assert berthd.berth("history", "--no-trunc", "--format", "{{.CreatedBy}}", ref).check().lines() == cb


def test_system_df(berthd, pulled):
    r = berthd.docker("system", "df")
    assert r.rc == 0, r
    assert re.split(r"\s{2,}", r.lines()[0].strip()) == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert r.lines()[1].startswith("Images")
    rows = [json.loads(l) for l in berthd.docker("system", "df", "--format", "{{json .}}").check().lines()]
    img = next(x for x in rows if x["Type"] == "Images")
    assert int(img["TotalCount"]) >= 1
    v = berthd.docker("system", "df", "-v")
    assert v.rc == 0 and "Images space usage:" in v.out, v
    df = berthd.client.df()
    assert any(i["Id"] == pulled[1].id for i in df["Images"])
    assert "LayersSize" in df and df["LayersSize"] > 0


def test_images_json_api(berthd, pulled):
    ref, im, repo = pulled
    lst = berthd.client.api.images()
    me = [i for i in lst if i["Id"] == im.id]
    assert len(me) == 1
    e = me[0]
    for k in ("Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize", "Labels", "Containers"):
        assert k in e, k
    assert e["RepoTags"] == [ref] and e["RepoDigests"] == [f"{repo}@{im.digest}"]
    assert e["Created"] == 1_700_000_000
    assert berthd.client.api.images(name=repo, quiet=True) == [im.id]
