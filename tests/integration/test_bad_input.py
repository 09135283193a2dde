"""Bad input: malformed references, unknown tags/repos, corrupted and truncated blobs, layers that try
to escape the rootfs, and a daemon killed mid-pull. Clear error, non-zero exit, nothing stored is
lost, nothing half-made is left behind."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers import images as I
from helpers.checks import assert_image
from helpers.daemon import DAEMON_KIND, Daemon
from helpers.overlay import layer_dirs
from helpers.proxy import SlowProxy
from helpers.util import stop_popen

CLIENTS = ["docker", "berth"]

BAD_REFS = [
    ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
    ("a b", "invalid reference format"),
    ("name:", "invalid reference format"),
    (":tag", "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("a" * 300, "repository name must not be more than 255 characters"),
]


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("ref,msg", BAD_REFS, ids=[r[0][:20] for r in BAD_REFS])
def test_pull_malformed_reference(berthd, client, ref, msg):
    r = berthd.cli(client, "pull", ref)
    assert r.rc == 1, r
    assert msg in r.err, r
    if ref == "UPPER":
        assert r.err.strip() == msg


def test_pull_malformed_reference_api(berthd):
    r = berthd.api("POST", "/images/create?fromImage=UPPER&tag=latest")
    assert r.status == 400, r
    msg = r.json()["message"]
    # Docker 28's text; older daemons said "repository name must be lowercase"
    assert msg.startswith("invalid reference format: repository name") and msg.endswith("must be lowercase"), msg
    if DAEMON_KIND == "berthd":
        assert msg == "invalid reference format: repository name (library/UPPER) must be lowercase"


@pytest.mark.parametrize("client", CLIENTS)
def test_pull_unknown_tag(berthd, pushed, client):
    ref = pushed.ref("it/busybox", "nosuchtag")
    r = berthd.cli(client, "pull", ref)
    assert r.rc == 1, r
    assert r.err.strip().startswith("Error response from daemon: ")
    assert f"manifest for {ref} not found: manifest unknown" in r.err, r


@pytest.mark.parametrize("client", CLIENTS)
def test_pull_unknown_repo(berthd, reg_http, reg_token, uniq, client):
    # plain registry: the repository simply does not exist
    ref = reg_http.ref(f"nosuch/repo-{uniq}")
    r = berthd.cli(client, "pull", ref)
    assert r.rc == 1, r
    assert r.err.strip() == f"Error response from daemon: manifest for {ref} not found: manifest unknown: manifest unknown", r
    # token registry: anonymous callers get no access to unknown repositories
    ref = reg_token.ref(f"nosuch/repo-{uniq}")
    r = berthd.cli(client, "pull", ref)
    assert r.rc == 1, r
    assert r.err.strip() == (f"Error response from daemon: pull access denied for {reg_token.host}/nosuch/repo-{uniq}, "
                             f"repository does not exist or may require 'docker login': denied: requested access "
                             f"to the resource is denied"), r


def test_pull_unreachable_registry(berthd):
    from helpers.util import free_port
    r = berthd.docker("pull", f"127.0.0.1:{free_port()}/nothing/here:latest")
    assert r.rc == 1, r
    assert r.err.startswith("Error response from daemon: ") and "connection refused" in r.err, r


def _listed(d: Daemon) -> list[dict]:
    return d.api("GET", "/images/json?all=1").json()


@pytest.mark.parametrize("mode", ["flip", "truncate"])
def test_pull_corrupted_blob(berthd, reg_http, uniq, mode):
    bad = I.unique_layer(uniq, size=200_000)
    im = I.Image([I.busybox_layer(), bad], labels={"corrupt": uniq})
    repo = f"bad/corrupt-{mode}-{uniq}"
    reg_http.push_image(repo, im)
    original = reg_http.blob_data_path(bad.digest).read_bytes()
    reg_http.corrupt_blob(bad.digest, mode)
    before = {i["Id"] for i in _listed(berthd)}
    r = berthd.docker("pull", reg_http.ref(repo))
    assert r.rc == 1, r
    # the error arrives in the progress stream, after the 200: no "Error response from daemon" prefix
    assert r.err.strip() == f"filesystem layer verification failed for digest {bad.digest}", r
    assert berthd.inspect(reg_http.ref(repo)) is None
    assert berthd.inspect(im.id) is None
    after = {i["Id"] for i in _listed(berthd)}
    assert after - before == set(), "a partial image was listed"
    assert before - after == set(), "a stored image was lost"
    # the daemon did not keep the bad bytes: a second try fails the same way
    assert berthd.docker("pull", reg_http.ref(repo)).rc == 1
    # another, good image pulls fine
    good = I.busybox_image(labels={"good-after-corrupt": uniq})
    reg_http.push_image(f"bad/good-{mode}-{uniq}", good)
    assert berthd.docker("pull", reg_http.ref(f"bad/good-{mode}-{uniq}")).rc == 0
    # once the registry serves the right bytes, the same image pulls whole
    reg_http.blob_data_path(bad.digest).write_bytes(original)
    r = berthd.docker("pull", reg_http.ref(repo))
    assert r.rc == 0, r
    assert_image(berthd, reg_http.ref(repo), im, im.digest)


def _passwd_state():
    st = os.stat("/etc/passwd")
    return st.st_nlink, st.st_ino, Path("/etc/passwd").read_bytes()


def _assert_nothing_escaped(sentinel: Path, passwd_before):
    assert sorted(os.listdir(sentinel)) == [], f"written outside the rootfs: {os.listdir(sentinel)}"
    assert _passwd_state() == passwd_before, "/etc/passwd was linked or changed"
    for p in ("/dotdot-pwned", "/absolute-pwned", "/tmp/dotdot-pwned"):
        assert not os.path.exists(p), p


# Docker fails these (a hard link must point at a file of the same layer). For the others Docker
# resolves every path inside the rootfs (it applies layers chrooted), so the pull may succeed:
# refused or contained, nothing may land outside.
ESCAPES_DOCKER_REFUSES = {"hardlink-out", "hardlink-abs"}


@pytest.mark.parametrize("kind", sorted(I.escaping_layers("/x").keys()))
def test_pull_escaping_layer(berthd, reg_http, sentinel_dir, uniq, kind):
    layer = I.escaping_layers(str(sentinel_dir))[kind]
    im = I.Image([I.busybox_layer(), layer], labels={"escape": kind, "u": uniq})
    repo = f"bad/escape-{kind}-{uniq}"
    reg_http.push_image(repo, im)
    passwd_before = _passwd_state()
    r = berthd.docker("pull", reg_http.ref(repo))
    _assert_nothing_escaped(sentinel_dir, passwd_before)
    if kind in ESCAPES_DOCKER_REFUSES:
        assert r.rc == 1, r
    if r.rc != 0:
        assert r.err.strip(), "no error message"
    if r.rc != 0:
        assert berthd.inspect(reg_http.ref(repo)) is None and berthd.inspect(im.id) is None
    else:
        assert_image(berthd, reg_http.ref(repo), im)
    assert berthd.ping_ok()


def test_pull_symlink_escape_across_layers(berthd, reg_http, sentinel_dir, uniq):
    im = I.Image([I.busybox_layer()] + I.symlink_escape_two_layers(str(sentinel_dir)), labels={"u": uniq})
    repo = f"bad/escape-two-{uniq}"
    reg_http.push_image(repo, im)
    passwd_before = _passwd_state()
    r = berthd.docker("pull", reg_http.ref(repo))
    _assert_nothing_escaped(sentinel_dir, passwd_before)
    if r.rc != 0:
        assert berthd.inspect(im.id) is None
    assert berthd.ping_ok()


@pytest.mark.slow
def test_daemon_killed_mid_pull_recovers(daemon_factory, reg_http, uniq):
    proxy = SlowProxy(reg_http.port, rate=2 << 20)
    try:
        d1 = daemon_factory(insecure=[reg_http.host, proxy.host])
        small = I.busybox_image(labels={"kept": uniq})
        reg_http.push_image(f"crash/small-{uniq}", small)
        d1.docker("pull", "-q", reg_http.ref(f"crash/small-{uniq}")).check()
        big = I.Image([I.busybox_layer(), I.random_layer(24 << 20, name="big1"), I.unique_layer(uniq)],
                      labels={"crash": uniq})
        repo = f"crash/big-{uniq}"
        reg_http.push_image(repo, big)
        p = d1.popen("docker", "pull", f"{proxy.host}/{repo}:latest")
        t0 = time.monotonic()
        seen = []
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() - t0 < 20:
            chunk = p.stdout.read() or b""
            seen.append(chunk.decode(errors="replace"))
            text = "".join(seen)
            if "Downloading" in text or "Extracting" in text or proxy.bytes_down > (2 << 20):
                break
            if p.poll() is not None:
                break
            time.sleep(0.1)
        assert p.poll() is None, f"pull ended before it could be interrupted: {''.join(seen)}"
        time.sleep(0.5)
        d1.kill9()
        stop_popen(p)
    finally:
        proxy.stop()
    # restart on the same data root
    d2 = daemon_factory(insecure=[reg_http.host], root=d1.tmp)
    listed = _listed(d2)
    for img in listed:
        info = d2.inspect(img["Id"])
        assert info is not None, f"listed image {img['Id']} cannot be inspected"
        for ld in layer_dirs(info):
            assert os.path.isdir(ld), f"layer dir {ld} of {img['Id']} missing"
    assert any(i["Id"] == small.id for i in listed), "an image stored before the crash was lost"
    assert_image(d2, reg_http.ref(f"crash/small-{uniq}"), small)
    big_info = d2.inspect(big.id)
    if big_info is not None:  # if it is there at all, it is whole
        assert big_info["RootFS"]["Layers"] == big.diff_ids
    r = d2.docker("pull", reg_http.ref(repo))
    assert r.rc == 0, r
    assert_image(d2, reg_http.ref(repo), big, big.digest)
    # the stale pidfile of the killed daemon did not stop the restart, and it holds the new pid
    assert d2.pidfile.read_text().strip() == str(d2.pid)
