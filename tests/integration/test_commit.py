"""Container changes and commit: `docker diff` / `container.diff()`, `docker commit` / `container.commit()`
(layer from the upper dir with whiteouts and opaque directories, `--change`, history, RootFS, events,
pause), the berth CLI's `diff`/`commit`, and an image of 60 layers (overlay lowerdir beyond one page)."""
from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode

import pytest

from helpers import images as I
from helpers.daemon import DAEMON_KIND

# Touches, adds, deletes; recreates a directory (an opaque dir over a whiteout) and replaces /usr/bin
# (which holds `env` in the image) by a fresh directory.
SCRIPT = ("echo x >> /etc/passwd; touch /newfile; mkdir -p /a/b; echo hi > /a/b/c; rm /etc/os-release; "
          "rm -rf /home/berth; mkdir /home/berth; touch /home/berth/z; touch /tmp/t; "
          "rm -rf /usr/bin; mkdir /usr/bin; touch /usr/bin/new")
EXPECTED = {
    "C /etc", "C /etc/passwd", "D /etc/os-release", "A /newfile", "A /a", "A /a/b", "A /a/b/c",
    "C /home", "C /home/berth", "A /home/berth/z", "C /tmp", "A /tmp/t",
    "C /usr", "C /usr/bin", "D /usr/bin/env", "A /usr/bin/new",
}
KINDS = {0: "C", 1: "A", 2: "D"}


@pytest.fixture
def changed(berthd, busybox, uniq):
    """A stopped container that ran SCRIPT; removed afterwards."""
    name = f"chg-{uniq}"
    berthd.docker("run", "--name", name, busybox, "sh", "-c", SCRIPT).check()
    yield name
    berthd.docker("rm", "-f", name)


def rm_images(berthd, *refs):
    for r in refs:
        berthd.docker("rmi", "-f", r)


def inspect(berthd, ref) -> dict:
    return json.loads(berthd.docker("image", "inspect", ref).check().out)[0]


def events(berthd, since: float, until: float) -> list[dict]:
    r = berthd.api("GET", f"/events?since={since:.9f}&until={until + 0.5:.9f}")
    assert r.status == 200, r
    return [json.loads(l) for l in r.text.splitlines() if l.strip()]


# ---------------------------------------------------------------- diff
def test_diff_docker_cli_and_docker_py(berthd, changed):
    out = berthd.docker("diff", changed).check().out
    assert set(out.splitlines()) == EXPECTED, out
    assert len(out.splitlines()) == len(EXPECTED)
    got = berthd.client.containers.get(changed).diff()
    assert {f"{KINDS[c['Kind']]} {c['Path']}" for c in got} == EXPECTED
    assert all(set(c) == {"Path", "Kind"} for c in got)


def test_diff_berth_cli(berthd, changed):
    r = berthd.berth("diff", changed).check()
    assert set(r.out.splitlines()) == EXPECTED
    r = berthd.berth("container", "diff", changed).check()
    assert set(r.out.splitlines()) == EXPECTED


def test_diff_created_container_is_null(berthd, busybox, uniq):
    name = f"chg-new-{uniq}"
    berthd.docker("create", "--name", name, busybox, "true").check()
    try:
        r = berthd.api("GET", f"/containers/{name}/changes")
        assert r.status == 200 and r.json() is None, r
        assert berthd.docker("diff", name).check().out == ""
        assert berthd.client.containers.get(name).diff() is None
    finally:
        berthd.docker("rm", "-f", name)


def test_diff_running_container(berthd, busybox, uniq):
    name = f"chg-run-{uniq}"
    berthd.docker("run", "-d", "--name", name, busybox, "sleep", "600").check()
    try:
        berthd.docker("exec", name, "sh", "-c", "echo data > /root/file; rm /etc/group").check()
        out = set(berthd.docker("diff", name).check().out.splitlines())
        assert out == {"C /root", "A /root/file", "C /etc", "D /etc/group"}, out
    finally:
        berthd.docker("rm", "-f", name)


def test_diff_unknown_container(berthd):
    r = berthd.docker("diff", "nosuch-container-x")
    assert r.rc == 1 and r.err.strip() == "Error response from daemon: No such container: nosuch-container-x"
    r = berthd.api("GET", "/containers/nosuch-container-x/changes")
    assert r.status == 404 and r.json() == {"message": "No such container: nosuch-container-x"}


# ---------------------------------------------------------------- commit
def test_commit_docker_cli_and_run(berthd, busybox, changed, uniq):
    repo = f"committed/{uniq}"
    parent = inspect(berthd, busybox)
    r = berthd.docker("commit", "-a", "Ann <ann@example.com>", "-m", "my change",
                      "-c", 'CMD ["cat", "/a/b/c"]', "-c", "ENV A=b C=$A", changed, f"{repo}:v1").check()
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    try:
        img = inspect(berthd, f"{repo}:v1")
        assert img["Id"] == image_id and img["RepoTags"] == [f"{repo}:v1"] and img["RepoDigests"] == []
        assert img["RootFS"]["Layers"][:-1] == parent["RootFS"]["Layers"]
        assert len(img["RootFS"]["Layers"]) == len(parent["RootFS"]["Layers"]) + 1
        assert img["Author"] == "Ann <ann@example.com>" and img["Comment"] == "my change"
        assert img["Config"]["Cmd"] == ["cat", "/a/b/c"]
        assert img["Config"]["Env"] == [I.DEFAULT_PATH, "A=b", "C="]
        old_api = berthd.api("GET", f"/v1.41/images/{quote(f'{repo}:v1', safe='/:')}/json").json()  # before 1.45
        assert old_api["Container"] == berthd.client.containers.get(changed).id
        assert old_api["ContainerConfig"]["Cmd"] == ["sh", "-c", SCRIPT]
        assert img["Os"] == "linux" and img["Architecture"] == parent["Architecture"]

        hist = berthd.docker("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}|{{.Size}}",
                             f"{repo}:v1").check().out.splitlines()
        assert len(hist) == len(berthd.docker("history", "-q", busybox).check().out.splitlines()) + 1
        top_id, created_by, comment, size = hist[0].split("|")
        assert top_id == image_id and created_by == "sh -c " + SCRIPT and comment == "my change" and size != "0B"

        # The new image shows the container's changes; the deleted file stays deleted (whiteout) and the
        # recreated directories hide what the image had in them (opaque).
        r = berthd.docker("run", "--rm", f"{repo}:v1").check()
        assert r.out == "hi\n"
        script = ("test ! -e /etc/os-release && test -e /newfile && ls -A /home/berth && ls -A /usr/bin "
                  "&& tail -n 1 /etc/passwd && echo $A")
        r = berthd.docker("run", "--rm", f"{repo}:v1", "sh", "-c", script).check()
        assert r.out.splitlines() == ["z", "new", "x", "b"], r
        # Its containers start from the committed state: their own diff is empty.
        name = f"chg-child-{uniq}"
        berthd.docker("run", "--name", name, f"{repo}:v1", "true").check()
        assert berthd.docker("diff", name).check().out == ""
        berthd.docker("rm", name).check()
    finally:
        rm_images(berthd, f"{repo}:v1")


def test_commit_docker_py_with_config(berthd, changed, uniq):
    c = berthd.client.containers.get(changed)
    img = c.commit(repository=f"committed/py-{uniq}", tag="t", message="from py", author="py",
                   changes=["LABEL from=py", "WORKDIR /a"], conf={"Cmd": ["cat", "b/c"], "Env": ["P=1"]})
    try:
        attrs = berthd.client.images.get(f"committed/py-{uniq}:t").attrs
        assert attrs["Id"] == img.id and attrs["Comment"] == "from py" and attrs["Author"] == "py"
        cfg = attrs["Config"]
        assert cfg["Cmd"] == ["cat", "b/c"] and cfg["WorkingDir"] == "/a" and cfg["Labels"] == {"from": "py"}
        assert cfg["Env"] == ["P=1", I.DEFAULT_PATH]
        out = berthd.client.containers.run(img.id, remove=True)
        assert out == b"hi\n"
    finally:
        rm_images(berthd, f"committed/py-{uniq}:t")


def test_commit_untagged_and_berth_cli(berthd, changed, uniq):
    r = berthd.berth("commit", "-m", "berth cli", "--change", "ENV FROM_BERTH=1", changed).check()
    image_id = r.out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    try:
        img = inspect(berthd, image_id)
        assert img["RepoTags"] == [] and img["Comment"] == "berth cli"
        assert "FROM_BERTH=1" in img["Config"]["Env"]
        assert berthd.docker("run", "--rm", image_id, "cat", "/a/b/c").check().out == "hi\n"
    finally:
        rm_images(berthd, image_id)
    r = berthd.berth("container", "commit", "-p=false", changed, f"committed/b-{uniq}").check()
    try:
        assert inspect(berthd, f"committed/b-{uniq}:latest")["Id"] == r.out.strip()
    finally:
        rm_images(berthd, f"committed/b-{uniq}")


def test_commit_without_changes_adds_no_layer(berthd, busybox, uniq):
    name = f"chg-empty-{uniq}"
    berthd.docker("create", "--name", name, busybox, "true").check()
    try:
        r = berthd.api("POST", f"/commit?container={name}&repo=committed/empty-{uniq}&tag=t&comment=nothing")
        assert r.status == 201 and set(r.json()) == {"Id"}, r
        img = inspect(berthd, f"committed/empty-{uniq}:t")
        assert img["RootFS"]["Layers"] == inspect(berthd, busybox)["RootFS"]["Layers"]
        hist = berthd.api("GET", f"/images/committed/empty-{uniq}:t/history").json()
        assert hist[0]["CreatedBy"] == "true" and hist[0]["Size"] == 0 and hist[0]["Comment"] == "nothing"
        assert berthd.docker("run", "--rm", f"committed/empty-{uniq}:t", "cat", "/etc/os-release").check().out
    finally:
        berthd.docker("rm", "-f", name)
        rm_images(berthd, f"committed/empty-{uniq}:t")


def test_commit_running_container_pauses(berthd, busybox, uniq):
    name = f"chg-pause-{uniq}"
    cid = berthd.docker("run", "-d", "--name", name, busybox, "sh", "-c", "echo 1 > /state; sleep 600").check().out.strip()
    repo = f"committed/pause-{uniq}"
    try:
        time.sleep(0.5)
        t0 = time.time()
        r = berthd.api("POST", f"/commit?container={name}&repo={repo}&tag=p&comment=c1")
        assert r.status == 201, r
        paused_id = r.json()["Id"]
        r = berthd.api("POST", f"/commit?container={name}&repo={repo}&tag=np&pause=0")
        assert r.status == 201, r
        assert berthd.client.containers.get(name).status == "running"
        evs = [e for e in events(berthd, t0, time.time())
               if e["Actor"]["ID"] == cid or e["Actor"]["Attributes"].get("name", "").startswith(repo)]
        seq = [f"{e['Type']} {e['Action']}" for e in evs]
        assert seq == ["container pause", "image tag", "container commit", "container unpause",
                       "image tag", "container commit"], seq
        attrs = evs[2]["Actor"]["Attributes"]
        assert attrs["comment"] == "c1" and attrs["imageID"] == paused_id and attrs["imageRef"] == f"{repo}:p"
        assert attrs["name"] == name and attrs["image"] == busybox
        assert evs[1]["Actor"] == {"ID": paused_id, "Attributes": {"name": f"{repo}:p"}}
        assert berthd.docker("run", "--rm", f"{repo}:np", "cat", "/state").check().out == "1\n"
    finally:
        berthd.docker("rm", "-f", name)
        rm_images(berthd, f"{repo}:p", f"{repo}:np")


def test_commit_errors(berthd, changed):
    r = berthd.docker("commit", "nosuch-container-x", "x:y")
    assert r.rc == 1 and r.err.strip() == "Error response from daemon: No such container: nosuch-container-x"
    r = berthd.api("POST", "/commit?container=nosuch-container-x")
    assert r.status == 404 and r.json() == {"message": "No such container: nosuch-container-x"}
    before = set(berthd.image_ids())
    for change, msg in [("RUN echo", "run is not a valid change command"),
                        ("FROM busybox", "from is not a valid change command"),
                        ("ENV", "ENV requires at least one argument"),
                        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]:
        r = berthd.api("POST", f"/commit?container={changed}&" + urlencode({"changes": change}))
        assert r.status == 400 and r.json() == {"message": msg}, (change, r)
    r = berthd.docker("commit", "-c", "RUN echo", changed)
    assert r.rc == 1 and "run is not a valid change command" in r.err
    assert set(berthd.image_ids()) == before  # nothing half-made


def test_commit_change_instructions(berthd, busybox, uniq):
    name = f"chg-cfg-{uniq}"
    berthd.docker("create", "--name", name, "-e", "X=1", "--label", "a=1", busybox, "true").check()
    changes = ["ENTRYPOINT [\"/bin/echo\"]", "EXPOSE 81 90-91/udp", "VOLUME /v1", "USER nobody",
               "WORKDIR rel", "LABEL b=\"two words\"", "ONBUILD RUN echo hi", "HEALTHCHECK --interval=5s CMD true"]
    if DAEMON_KIND != "dockerd":
        changes.append("STOPSIGNAL SIGUSR1")  # dockerd 20.10 does not accept it yet; Docker 23+ does
    q = urlencode([("container", name)] + [("changes", c) for c in changes])
    r = berthd.api("POST", "/commit?" + q)
    assert r.status == 201, r
    try:
        cfg = inspect(berthd, r.json()["Id"])["Config"]
        assert cfg["Entrypoint"] == ["/bin/echo"] and cfg.get("Cmd") is None
        assert set(cfg["ExposedPorts"]) == {"81/tcp", "90/udp", "91/udp"}
        assert cfg["Volumes"] == {"/v1": {}} and cfg["User"] == "nobody" and cfg["WorkingDir"] == "/rel"
        assert cfg["Labels"] == {"a": "1", "b": "two words"} and cfg["OnBuild"] == ["RUN echo hi"]
        assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
        assert "X=1" in cfg["Env"]
        if DAEMON_KIND != "dockerd":
            assert cfg["StopSignal"] == "SIGUSR1"
    finally:
        berthd.docker("rm", "-f", name)
        rm_images(berthd, r.json()["Id"])


# ---------------------------------------------------------------- many layers
def test_sixty_layer_image_runs(berthd, busybox, reg_http, uniq):
    """61 lower dirs: with absolute snapshot paths the overlay's mount data would exceed one page."""
    layers = [I.busybox_layer()]
    for i in range(59):
        layers.append(I.Layer.from_entries([I.directory("layers"), I.file(f"layers/{i:02d}", f"{i}\n"),
                                            I.file("layers/top", f"{i}\n")], comment=f"layer {i}"))
    image = I.Image(layers)
    repo = f"it/many-{uniq}"
    reg_http.push_image(repo, image)
    ref = reg_http.ref(repo)
    name = f"chg-many-{uniq}"
    berthd.docker("pull", "-q", ref).check()
    try:
        assert len(inspect(berthd, ref)["RootFS"]["Layers"]) == 60
        r = berthd.docker("run", "--name", name, ref, "sh", "-c", "ls /layers | wc -l; cat /layers/top /layers/00; echo new > /layers/top")
        assert r.rc == 0, r
        assert r.out.split() == ["60", "58", "0"], r.out
        assert set(berthd.docker("diff", name).check().out.splitlines()) == {"C /layers", "C /layers/top"}
        berthd.docker("commit", name, f"{ref}-committed").check()
        r = berthd.docker("run", "--rm", f"{ref}-committed", "cat", "/layers/top", "/layers/58").check()
        assert r.out == "new\n58\n"
        assert len(inspect(berthd, f"{ref}-committed")["RootFS"]["Layers"]) == 61
    finally:
        berthd.docker("rm", "-f", name)
        rm_images(berthd, f"{ref}-committed", ref)
