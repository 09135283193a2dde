"""Self-tests of the harness: registries, token server, image builder, proxy. No berthd needed.

Run alone with: pytest tests/integration -k harness
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
import time

import pytest
import requests

from helpers import images as I
from helpers.proxy import SlowProxy
from helpers.registry import RegistryError, start_registry
from helpers.tokenserver import libtrust_key_id, parse_scope
from helpers.util import run

pytestmark = pytest.mark.harness


def skopeo(*args, timeout=120):
    return run(["skopeo", *args], timeout=timeout)


def tls_args(reg, tmp_dir):
    if reg.variant == "tls":
        d = tmp_dir / "certs"
        d.mkdir(exist_ok=True)
        (d / "ca.crt").write_bytes(reg.ca_path.read_bytes())
        return [f"--cert-dir={d}"]
    return ["--tls-verify=false"]


@pytest.fixture(params=["http", "tls", "basic", "token"])
def any_registry(request):
    return request.getfixturevalue(f"reg_{request.param}")


def test_harness_registry_push_and_skopeo_inspect(any_registry, tmp_dir, uniq):
    reg = any_registry
    im = I.busybox_image(labels={"uniq": uniq})
    repo = f"harness/{uniq}"
    assert reg.push_image(repo, im, "latest") == im.digest
    creds = [f"--creds={reg.username}:{reg.password}"] if reg.needs_auth else []
    r = skopeo("inspect", *tls_args(reg, tmp_dir), *creds, f"docker://{reg.ref(repo)}").check()
    j = json.loads(r.out)
    assert j["Digest"] == im.digest
    assert j["Labels"]["uniq"] == uniq
    assert j["Layers"] == [l.digest for l in im.layers]
    raw = skopeo("inspect", "--raw", *tls_args(reg, tmp_dir), *creds, f"docker://{reg.ref(repo)}").check()
    assert "sha256:" + hashlib.sha256(raw.out.encode()).hexdigest() == im.digest


def test_harness_tls_needs_the_ca(reg_tls, tmp_dir):
    ok = run(["curl", "-sS", "--cacert", str(reg_tls.ca_path), f"https://{reg_tls.host}/v2/"])
    assert ok.rc == 0, ok
    bad = run(["curl", "-sS", "--capath", "/nonexistent", "--cacert", "/dev/null", f"https://{reg_tls.host}/v2/"])
    assert bad.rc != 0
    # The cert names both 127.0.0.1 and localhost.
    ok2 = run(["curl", "-sS", "--cacert", str(reg_tls.ca_path), f"https://localhost:{reg_tls.port}/v2/"])
    assert ok2.rc == 0, ok2


def test_harness_basic_auth_rejects_anonymous_and_wrong_password(reg_basic, uniq):
    r = requests.get(f"{reg_basic.url}/v2/", timeout=5)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{reg_basic.url}/v2/", auth=(reg_basic.username, "wrong"), timeout=5).status_code == 401
    assert requests.get(f"{reg_basic.url}/v2/", auth=(reg_basic.username, reg_basic.password),
                        timeout=5).status_code == 200
    with pytest.raises(RegistryError):
        reg_basic.client(anonymous=True).push(f"harness/{uniq}", I.busybox_image())


def test_harness_token_server_flow(reg_token, uniq):
    ts = reg_token.token_server
    r = requests.get(f"{reg_token.url}/v2/", timeout=5)
    assert r.status_code == 401
    ch = r.headers["WWW-Authenticate"]
    assert ch.startswith("Bearer ") and f'realm="{ts.realm}"' in ch and 'service="berth-test-registry"' in ch
    # wrong password -> 401 from the token server
    t = requests.get(ts.realm, params={"service": "berth-test-registry", "scope": "repository:x:pull"},
                     auth=(reg_token.username, "wrong"), timeout=5)
    assert t.status_code == 401
    # right password -> token usable on the registry
    t = requests.get(ts.realm, params={"service": "berth-test-registry", "scope": "repository:x:pull"},
                     auth=(reg_token.username, reg_token.password), timeout=5)
    assert t.status_code == 200
    tok = t.json()["token"]
    hdr = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
    assert hdr["alg"] == "ES256" and re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", hdr["kid"])
    assert requests.get(f"{reg_token.url}/v2/", headers={"Authorization": f"Bearer {tok}"},
                        timeout=5).status_code == 200
    # OAuth2 POST flow with a refresh token
    p = requests.post(ts.realm, data={"grant_type": "password", "username": reg_token.username,
                                      "password": reg_token.password, "service": "berth-test-registry",
                                      "scope": "repository:x:pull", "client_id": "berth"}, timeout=5)
    assert p.status_code == 200 and p.json()["refresh_token"]
    p2 = requests.post(ts.realm, data={"grant_type": "refresh_token", "refresh_token": p.json()["refresh_token"],
                                       "service": "berth-test-registry", "scope": "repository:x:pull"}, timeout=5)
    assert p2.status_code == 200 and p2.json()["access_token"]


def test_harness_token_public_and_private_repos(reg_token, tmp_dir, uniq):
    public, private = "public/busybox", f"private/{uniq}"
    reg_token.push_image(public, I.busybox_image(), "latest")
    reg_token.push_image(private, I.busybox_image(labels={"p": uniq}), "latest")
    anon = reg_token.client(anonymous=True)
    assert anon.get_manifest(public, "latest")[0] == I.DOCKER_MANIFEST
    with pytest.raises(RegistryError) as e:
        anon.get_manifest(private, "latest")
    assert e.value.status == 401
    with pytest.raises(RegistryError):
        reg_token.client(password="wrong").get_manifest(private, "latest")
    assert reg_token.client().get_manifest(private, "latest")[0] == I.DOCKER_MANIFEST
    # anonymous cannot push even to the public repo
    with pytest.raises(RegistryError):
        anon.push(public, I.busybox_image(labels={"anon": uniq}), "anon")
    # skopeo agrees (a third-party client validates our token server against distribution)
    assert skopeo("inspect", "--tls-verify=false", "--no-creds", f"docker://{reg_token.ref(public)}").rc == 0
    assert skopeo("inspect", "--tls-verify=false", "--no-creds", f"docker://{reg_token.ref(private)}").rc != 0
    assert skopeo("inspect", "--tls-verify=false", f"--creds={reg_token.username}:{reg_token.password}",
                  f"docker://{reg_token.ref(private)}").rc == 0
    assert skopeo("inspect", "--tls-verify=false", f"--creds={reg_token.username}:nope",
                  f"docker://{reg_token.ref(private)}").rc != 0


def test_harness_libtrust_key_id_format():
    from cryptography.hazmat.primitives.asymmetric import ec
    k = ec.generate_private_key(ec.SECP256R1()).public_key()
    kid = libtrust_key_id(k)
    assert len(kid) == 59 and kid.count(":") == 11
    assert parse_scope("repository:127.0.0.1:5000/a/b:pull,push") == ("repository", "127.0.0.1:5000/a/b",
                                                                      ["pull", "push"])


@pytest.mark.parametrize("flavor,compression", [("docker", "gzip"), ("oci", "gzip"), ("oci", "zstd"),
                                                ("oci", "none")])
def test_harness_image_builder_roundtrip(reg_http, tmp_dir, uniq, flavor, compression):
    im = I.fancy_image(flavor, compression)
    repo = f"harness/rt-{uniq}"
    reg_http.push_image(repo, im)
    out = tmp_dir / "oci"
    skopeo("copy", "--preserve-digests", "--src-tls-verify=false", f"docker://{reg_http.ref(repo)}",
           f"oci:{out}:x").check()
    idx = json.loads((out / "index.json").read_text())
    mdig = idx["manifests"][0]["digest"]
    man = json.loads((out / "blobs/sha256" / mdig.split(":")[1]).read_bytes())
    assert [l["digest"] for l in man["layers"]] == [l.digest for l in im.layers]
    cfg = json.loads((out / "blobs/sha256" / man["config"]["digest"].split(":")[1]).read_bytes())
    assert cfg["rootfs"]["diff_ids"] == im.diff_ids
    assert cfg["config"]["Labels"]["org.berth.test"] == "fancy"
    assert cfg["config"]["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    for l in man["layers"]:
        blob = (out / "blobs/sha256" / l["digest"].split(":")[1]).read_bytes()
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == l["digest"]


def test_harness_fancy_layer_tar_contents():
    l2, l3 = I.fancy_layers()
    m2 = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(l2.tar))}
    m3 = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(l3.tar))}
    assert m2["data/null"].ischr() and (m2["data/null"].devmajor, m2["data/null"].devminor) == (1, 3)
    assert m2["data/fifo"].isfifo()
    assert m2["data/xattr"].pax_headers["SCHILY.xattr.user.berth.test"] == "hello-xattr"
    assert m2["data/sub/owned"].uid == 1000 and m2["data/setuid"].mode == 0o4755
    assert "data/.wh.remove-me.txt" in m3 and "opq/.wh..wh..opq" in m3 and "data/.wh.gone-dir" in m3
    assert m3["data/hl-dst"].islnk() and m3["data/hl-dst"].linkname == "data/hl-src"
    # GNU tar agrees on the xattr (it reads PAX SCHILY.xattr)
    r = subprocess.run(["tar", "--xattrs", "-tvvf", "-"], input=l2.tar, capture_output=True)
    assert r.returncode == 0 and b"data/xattr" in r.stdout
    # deterministic builds: same input, same digest
    assert I.fancy_image().digest == I.fancy_image().digest


def test_harness_multiarch_index(reg_http, tmp_dir, uniq):
    idx = I.multiarch_index("oci", label=uniq)
    repo = f"harness/multi-{uniq}"
    reg_http.push_image(repo, idx)
    ct, body, dgst = reg_http.client().get_manifest(repo, "latest")
    assert ct == I.OCI_INDEX and dgst == idx.digest
    for arch in ("amd64", "arm64"):
        r = skopeo("inspect", "--tls-verify=false", f"--override-arch={arch}", f"docker://{reg_http.ref(repo)}").check()
        j = json.loads(r.out)
        assert j["Architecture"] == arch and j["Labels"]["arch"] == arch
        assert j["Digest"] == idx.digest  # skopeo reports the index digest
        assert j["Layers"] == [l.digest for l in idx.for_platform("linux", arch).layers]


@pytest.mark.parametrize("mode", ["flip", "truncate"])
def test_harness_corrupted_blob_is_served_corrupted(reg_http, tmp_dir, uniq, mode):
    layer = I.unique_layer(uniq, size=4096)
    im = I.Image([I.busybox_layer(), layer])
    repo = f"harness/corrupt-{uniq}"
    reg_http.push_image(repo, im)
    reg_http.corrupt_blob(layer.digest, mode)
    got = requests.get(f"{reg_http.url}/v2/{repo}/blobs/{layer.digest}", timeout=10).content
    assert got != layer.blob
    r = skopeo("copy", "--src-tls-verify=false", f"docker://{reg_http.ref(repo)}", f"oci:{tmp_dir}/o:x")
    assert r.rc != 0 and ("digest" in r.err.lower() or "size" in r.err.lower() or "unexpected" in r.err.lower()), r


def test_harness_escaping_layers_are_really_hostile(sentinel_dir):
    layers = I.escaping_layers(str(sentinel_dir))
    names = {k: [(m.name, m.linkname) for m in tarfile.open(fileobj=io.BytesIO(l.tar))] for k, l in layers.items()}
    assert names["dotdot"][0][0].startswith("../")
    assert names["absolute"][0][0].startswith("/")
    assert names["hardlink-out"][0][1].startswith("../") and names["hardlink-out"][0][1].endswith("etc/passwd")
    assert names["symlink-abs"][0][1] == str(sentinel_dir)


def test_harness_slow_proxy_limits_rate(reg_http, uniq):
    layer = I.random_layer(1 << 20)
    repo = f"harness/slow-{uniq}"
    reg_http.push_image(repo, I.Image([layer]))
    p = SlowProxy(reg_http.port, rate=512 << 10)
    try:
        t = time.monotonic()
        r = requests.get(f"http://{p.host}/v2/{repo}/blobs/{layer.digest}", timeout=30)
        dt = time.monotonic() - t
        assert r.content == layer.blob
        assert dt > 1.5, dt
    finally:
        p.stop()


def test_harness_registry_stops_cleanly():
    reg = start_registry("http")
    pid, d = reg.proc.pid, reg.dir
    reg.cleanup()
    assert not d.exists()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"


def test_kill_process_trees_mentioning(tmp_path):
    from helpers.util import kill_process_trees_mentioning, pid_alive
    marker = str(tmp_path) + "/"
    p = subprocess.Popen(["sh", "-c", "sleep 300 & echo $!; wait", marker], stdout=subprocess.PIPE, text=True)
    child = int(p.stdout.readline())
    assert pid_alive(child)
    killed = kill_process_trees_mentioning(marker)
    assert p.pid in killed and child in killed
    p.wait(5)
    for _ in range(50):
        if not pid_alive(child):
            break
        time.sleep(0.05)
    assert not pid_alive(child)
