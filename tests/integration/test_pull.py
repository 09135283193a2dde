"""Pulling from each registry variant, platforms, digests, all tags, quiet mode, layer formats."""
from __future__ import annotations

import json

import docker
import pytest

from helpers import images as I
from helpers.checks import assert_image, short

CLIENTS = ["docker", "berth"]


def _pull(d, client, ref, *flags, **kw):
    return d.cli(client, "pull", *flags, ref, **kw)


@pytest.mark.parametrize("client", CLIENTS)
def test_pull_http_registry(berthd, reg_http, uniq, client):
    im = I.busybox_image(labels={"t": uniq})
    repo = f"pull/http-{client}-{uniq}"
    reg_http.push_image(repo, im)
    ref = reg_http.ref(repo)
    r = _pull(berthd, client, ref)
    assert r.rc == 0, r
    assert f"latest: Pulling from {repo}" in r.out
    assert f"Digest: {im.digest}" in r.out
    assert f"Status: Downloaded newer image for {ref}" in r.out
    assert r.lines()[-1] == ref
    assert_image(berthd, ref, im, im.digest)
    # second pull: up to date, nothing downloaded
    r = _pull(berthd, client, ref)
    assert r.rc == 0, r
    assert f"Status: Image is up to date for {ref}" in r.out
    assert "Pull complete" not in r.out


def test_pull_dockerpy(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"t": uniq})
    repo = f"pull/py-{uniq}"
    reg_http.push_image(repo, im, ["latest", "other"])
    img = berthd.client.images.pull(reg_http.ref(repo, None), tag="latest")
    assert img.id == im.id
    assert reg_http.ref(repo) in img.tags
    # low-level streaming API: JSON progress messages
    msgs = list(berthd.client.api.pull(reg_http.ref(repo, None), tag="other", stream=True, decode=True))
    assert any("Digest: " + im.digest in m.get("status", "") for m in msgs), msgs
    assert msgs[-1]["status"].startswith("Status: ")
    assert berthd.client.images.get(reg_http.ref(repo, "other")).id == im.id


def test_pull_tls_registry_with_ca(berthd, tls_ca_installed, uniq):
    reg = tls_ca_installed
    im = I.busybox_image(labels={"tls": uniq})
    repo = f"pull/tls-{uniq}"
    reg.push_image(repo, im)
    r = berthd.docker("pull", reg.ref(repo))
    assert r.rc == 0, r
    assert_image(berthd, reg.ref(repo), im, im.digest)


def test_pull_basic_auth_without_credentials_fails(berthd, reg_basic, uniq):
    repo = f"pull/basic-noauth-{uniq}"
    reg_basic.push_image(repo, I.busybox_image(labels={"b": uniq}))
    r = berthd.docker("pull", reg_basic.ref(repo), env={"DOCKER_CONFIG": str(berthd.tmp / f"empty-{uniq}")})
    assert r.rc == 1, r
    assert r.err.strip() == (f'Error response from daemon: Head "http://{reg_basic.host}/v2/{repo}/manifests/latest": '
                             f'no basic auth credentials'), r
    assert berthd.inspect(reg_basic.ref(repo)) is None


@pytest.mark.parametrize("client", CLIENTS)
def test_login_and_pull_basic_auth(berthd, reg_basic, tmp_dir, uniq, client):
    repo = f"pull/basic-{client}-{uniq}"
    im = I.busybox_image(labels={"b": uniq})
    reg_basic.push_image(repo, im)
    env = {"DOCKER_CONFIG": str(tmp_dir), "BERTH_CONFIG": str(tmp_dir)}
    r = berthd.cli(client, "login", "-u", reg_basic.username, "--password-stdin", reg_basic.host,
                   input=reg_basic.password + "\n", env=env)
    assert r.rc == 0, r
    assert "Login Succeeded" in r.out
    cfg = json.loads((tmp_dir / "config.json").read_text())
    assert reg_basic.host in cfg["auths"]
    r = berthd.cli(client, "pull", reg_basic.ref(repo), env=env)
    assert r.rc == 0, r
    assert_image(berthd, reg_basic.ref(repo), im, im.digest)
    r = berthd.cli(client, "logout", reg_basic.host, env=env)
    assert r.rc == 0, r
    assert reg_basic.host not in json.loads((tmp_dir / "config.json").read_text()).get("auths", {})


@pytest.mark.parametrize("client", CLIENTS)
def test_login_wrong_password(berthd, reg_basic, tmp_dir, client):
    env = {"DOCKER_CONFIG": str(tmp_dir), "BERTH_CONFIG": str(tmp_dir)}
    r = berthd.cli(client, "login", "-u", reg_basic.username, "-p", "wrong", reg_basic.host, env=env)
    assert r.rc == 1, r
    assert r.err.strip().endswith(f"Error response from daemon: login attempt to http://{reg_basic.host}/v2/ "
                                  f"failed with status: 401 Unauthorized"), r
    assert reg_basic.host not in json.loads((tmp_dir / "config.json").read_text() if
                                            (tmp_dir / "config.json").exists() else "{}").get("auths", {})


def test_pull_basic_auth_with_config_json(berthd, reg_basic, tmp_dir, uniq):
    """Credentials from config.json `auths` reach the daemon as X-Registry-Auth (no login call)."""
    repo = f"pull/basic-cfg-{uniq}"
    im = I.busybox_image(labels={"cfg": uniq})
    reg_basic.push_image(repo, im)
    (tmp_dir / "config.json").write_text(json.dumps({"auths": reg_basic.docker_auth_config()}))
    r = berthd.docker("pull", reg_basic.ref(repo), env={"DOCKER_CONFIG": str(tmp_dir)})
    assert r.rc == 0, r
    assert_image(berthd, reg_basic.ref(repo), im)


def test_pull_dockerpy_auth_config(berthd, reg_basic, uniq):
    repo = f"pull/basic-py-{uniq}"
    im = I.busybox_image(labels={"py": uniq})
    reg_basic.push_image(repo, im)
    img = berthd.client.images.pull(reg_basic.ref(repo, None), tag="latest",
                                    auth_config={"username": reg_basic.username, "password": reg_basic.password})
    assert img.id == im.id


def test_pull_token_anonymous_public_repo(berthd, reg_token, uniq):
    im = I.busybox_image(labels={"public": uniq})
    reg_token.push_image("public/busybox", im, uniq)
    ts = reg_token.token_server
    n0 = len(ts.requests)
    r = berthd.docker("pull", reg_token.ref("public/busybox", uniq))
    assert r.rc == 0, r
    assert_image(berthd, reg_token.ref("public/busybox", uniq), im, im.digest)
    reqs = ts.requests[n0:]
    assert reqs and all(q["user"] in (None, "") for q in reqs), reqs
    assert any("repository:public/busybox:pull" in q["scopes"] for q in reqs), reqs


@pytest.mark.parametrize("client", CLIENTS)
def test_pull_token_private_repo_with_credentials(berthd, reg_token, tmp_dir, uniq, client):
    repo = f"private/{client}-{uniq}"
    im = I.busybox_image(labels={"private": uniq})
    reg_token.push_image(repo, im)
    env = {"DOCKER_CONFIG": str(tmp_dir), "BERTH_CONFIG": str(tmp_dir)}
    r = berthd.cli(client, "login", "-u", reg_token.username, "--password-stdin", reg_token.host,
                   input=reg_token.password, env=env)
    assert r.rc == 0 and "Login Succeeded" in r.out, r
    r = berthd.cli(client, "pull", reg_token.ref(repo), env=env)
    assert r.rc == 0, r
    assert_image(berthd, reg_token.ref(repo), im, im.digest)


def test_pull_token_private_repo_anonymous_denied(berthd, reg_token, uniq):
    repo = f"private/anon-{uniq}"
    reg_token.push_image(repo, I.busybox_image(labels={"anon": uniq}))
    r = berthd.docker("pull", reg_token.ref(repo))
    assert r.rc == 1, r
    assert r.err.strip() == (f"Error response from daemon: pull access denied for {reg_token.host}/{repo}, "
                             f"repository does not exist or may require 'docker login': denied: requested access "
                             f"to the resource is denied"), r
    assert berthd.inspect(reg_token.ref(repo)) is None


def test_pull_token_wrong_password(berthd, reg_token, tmp_dir, uniq):
    repo = f"private/wrong-{uniq}"
    reg_token.push_image(repo, I.busybox_image(labels={"wrong": uniq}))
    (tmp_dir / "config.json").write_text(json.dumps({"auths": {reg_token.host: {
        "auth": __import__("base64").b64encode(f"{reg_token.username}:wrong".encode()).decode()}}}))
    r = berthd.docker("pull", reg_token.ref(repo), env={"DOCKER_CONFIG": str(tmp_dir)})
    assert r.rc == 1, r
    assert r.err.strip() == (f'Error response from daemon: Head "http://{reg_token.host}/v2/{repo}/manifests/latest": '
                             f'unauthorized: incorrect username or password'), r
    assert berthd.inspect(reg_token.ref(repo)) is None
    with pytest.raises(docker.errors.APIError):
        berthd.client.images.pull(reg_token.ref(repo, None), tag="latest",
                                  auth_config={"username": reg_token.username, "password": "wrong"})


def test_pull_manifest_list_picks_host_platform(berthd, pushed):
    ref = pushed.ref("it/multi")
    r = berthd.docker("pull", ref)
    assert r.rc == 0, r
    amd = pushed.multi.for_platform("linux", "amd64")
    info = assert_image(berthd, ref, amd)
    assert "ARCH=amd64" in info["Config"]["Env"]
    assert f"{pushed.reg.host}/it/multi@{pushed.multi.digest}" in info["RepoDigests"]


@pytest.mark.parametrize("repo,attr", [("it/multi", "multi"), ("it/multi-oci", "multi_oci")])
def test_pull_platform_arm64(berthd, pushed, uniq, repo, attr):
    idx = getattr(pushed, attr)
    arm = idx.for_platform("linux", "arm64")
    r = berthd.docker("pull", "--platform", "linux/arm64", pushed.ref(repo))
    assert r.rc == 0, r
    info = berthd.inspect(arm.id)
    assert info is not None, berthd.docker("images", "-a", "--no-trunc").out
    assert info["Architecture"] == "arm64" and info.get("Variant") == "v8"
    assert "ARCH=arm64" in info["Config"]["Env"]
    # an arm64-only pull of a platform the index lacks fails clearly
    r = berthd.docker("pull", "--platform", "linux/s390x", pushed.ref(repo))
    assert r.rc == 1, r
    assert "no matching manifest for linux/s390x" in r.err, r


def test_pull_by_digest(berthd, reg_http, uniq):
    im = I.busybox_image(labels={"digest": uniq})
    repo = f"pull/digest-{uniq}"
    reg_http.push_image(repo, im, "t1")
    ref = f"{reg_http.host}/{repo}@{im.digest}"
    r = berthd.docker("pull", ref)
    assert r.rc == 0, r
    assert f"Digest: {im.digest}" in r.out and r.lines()[-1] == ref
    info = berthd.inspect(ref)
    assert info is not None and info["Id"] == im.id
    assert info["RepoTags"] == []
    assert info["RepoDigests"] == [ref]
    out = berthd.docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}",
                        "--filter", f"reference={reg_http.host}/{repo}").check().out.split()
    assert out == [f"{reg_http.host}/{repo}", "<none>", im.digest]


def test_pull_all_tags(berthd, pushed):
    repo = f"{pushed.reg.host}/it/tags"
    r = berthd.docker("pull", "-a", repo)
    assert r.rc == 0, r
    for t, im in pushed.tags.items():
        assert_image(berthd, f"{repo}:{t}", im)
    assert f"Status: Downloaded newer image for {repo}" in r.out or "Image is up to date" in r.out


@pytest.mark.parametrize("client", CLIENTS)
def test_pull_quiet(berthd, reg_http, uniq, client):
    repo = f"pull/quiet-{client}-{uniq}"
    reg_http.push_image(repo, I.busybox_image(labels={"q": uniq}))
    r = berthd.cli(client, "pull", "-q", reg_http.ref(repo))
    assert r.rc == 0, r
    assert r.out == reg_http.ref(repo) + "\n"


@pytest.mark.parametrize("repo,attr", [("it/busybox-oci", "busybox_oci"), ("it/fancy", "fancy"),
                                       ("it/fancy-zstd", "fancy_oci_zstd"), ("it/plain", "plain")])
def test_pull_layer_formats(berthd, pushed, repo, attr):
    """Docker schema2 and OCI manifests; gzip, zstd and uncompressed layers."""
    im = getattr(pushed, attr)
    r = berthd.docker("pull", pushed.ref(repo))
    assert r.rc == 0, r
    info = assert_image(berthd, pushed.ref(repo), im, im.digest)
    cfg = im.config_obj()["config"]
    assert info["Config"]["Env"] == cfg["Env"]
    assert info["Config"]["Cmd"] == cfg.get("Cmd")


def test_pull_shorthand_tag_defaults_to_latest(berthd, pushed):
    r = berthd.docker("pull", f"{pushed.reg.host}/it/busybox")
    assert r.rc == 0, r
    assert "Using default tag: latest" in r.out
    assert r.lines()[-1] == pushed.ref("it/busybox")


@pytest.mark.parametrize("limit", [1, 2])
def test_max_concurrent_downloads(daemon_factory, pushed, limit):
    """`--max-concurrent-downloads N`: the first N layers start at once, the rest say "Waiting" (as dockerd)."""
    n_layers = len(pushed.fancy.layers)
    assert n_layers > 2
    d = daemon_factory(extra_args=["--max-concurrent-downloads", str(limit)])
    msgs = list(d.client.api.pull(pushed.ref("it/fancy", None), tag="latest", stream=True, decode=True))
    waiting = {m["id"] for m in msgs if m.get("status") == "Waiting"}
    done = {m["id"] for m in msgs if m.get("status") == "Pull complete"}
    assert len(done) == n_layers, msgs
    assert len(waiting) == n_layers - limit, msgs
    assert d.client.images.get(pushed.ref("it/fancy")).id == pushed.fancy.id


def test_max_concurrent_downloads_from_daemon_json(daemon_factory, pushed):
    d = daemon_factory(daemon_json={"max-concurrent-downloads": 1, "max-download-attempts": 2})
    msgs = list(d.client.api.pull(pushed.ref("it/fancy", None), tag="latest", stream=True, decode=True))
    assert len({m["id"] for m in msgs if m.get("status") == "Waiting"}) == len(pushed.fancy.layers) - 1, msgs
