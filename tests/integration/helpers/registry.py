"""Debian's docker-registry (CNCF distribution 2.8) on loopback in four variants, and a push client.

Variants: "http" (plain), "tls" (CA + server cert made with openssl), "basic" (htpasswd, bcrypt),
"token" (Bearer via helpers.tokenserver). Each runs `/usr/bin/docker-registry serve CONFIG` on
127.0.0.1:<free port>, is stopped by pid and its temp dir removed.
"""
from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin

import requests

from . import images as I
from .tokenserver import TokenServer
from .util import Fatal, free_port, make_tmpdir, rmtree, run, stop_popen, wait_for

REGISTRY_BIN = os.environ.get("BERTH_IT_REGISTRY_BIN", "/usr/bin/docker-registry")
DEFAULT_USER, DEFAULT_PASSWORD = "berth", "s3cret"


def make_ca(d: Path, hosts=("127.0.0.1", "localhost")) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server cert for `hosts` (IP/DNS SANs). Returns (ca.crt, server.crt, server.key)."""
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = d / "ca.key", d / "ca.crt"
    key, csr, crt, ext = d / "server.key", d / "server.csr", d / "server.crt", d / "server.ext"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
         "-days", "2", "-subj", "/CN=berth integration test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"]).check()
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", f"/CN={hosts[0]}"]).check()
    sans = ",".join(("IP:" if re.fullmatch(r"[\d.]+|[0-9a-f:]+", h) else "DNS:") + h for h in hosts)
    ext.write_text(f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
         "-out", crt, "-days", "2", "-sha256", "-extfile", ext]).check()
    return ca_crt, crt, key


class RegistryError(Exception):
    def __init__(self, status: int, body: str, what: str):
        super().__init__(f"{what}: HTTP {status}: {body[:500]}")
        self.status, self.body = status, body


class RegistryClient:
    """Minimal distribution client (push/inspect) handling Basic and Bearer challenges."""

    def __init__(self, base_url: str, ca: str | None = None, username: str | None = None,
                 password: str | None = None):
        self.base = base_url.rstrip("/")
        self.s = requests.Session()
        self.s.verify = ca if ca else True
        self.username, self.password = username, password
        self._tokens: dict[str, str] = {}
        self._basic = False

    # --- auth
    def _auth_headers(self, scope: str) -> dict:
        if self._basic and self.username is not None:
            raw = f"{self.username}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if scope in self._tokens:
            return {"Authorization": "Bearer " + self._tokens[scope]}
        return {}

    def _handle_challenge(self, resp: requests.Response, scope: str) -> bool:
        h = resp.headers.get("WWW-Authenticate", "")
        if h.lower().startswith("basic"):
            if self._basic or self.username is None:
                return False
            self._basic = True
            return True
        if h.lower().startswith("bearer"):
            params = dict(re.findall(r'(\w+)="([^"]*)"', h))
            q = {"service": params.get("service", "")}
            q_scopes = [scope] if scope else []
            if params.get("scope") and params["scope"] not in q_scopes:
                q_scopes.append(params["scope"])
            url = params["realm"] + "?" + urlencode([("service", q["service"])] + [("scope", s) for s in q_scopes])
            auth = (self.username, self.password) if self.username is not None else None
            tr = requests.get(url, auth=auth, verify=self.s.verify, timeout=30)
            if tr.status_code != 200:
                raise RegistryError(tr.status_code, tr.text, "token request")
            j = tr.json()
            tok = j.get("token") or j.get("access_token")
            if self._tokens.get(scope) == tok:
                return False
            self._tokens[scope] = tok
            return True
        return False

    def request(self, method: str, path_or_url: str, scope: str = "", **kw) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        kw.setdefault("timeout", 120)
        kw.setdefault("verify", self.s.verify)  # explicit: REQUESTS_CA_BUNDLE would override Session.verify
        for _ in range(3):
            headers = dict(kw.pop("headers", {}) or {})
            headers.update(self._auth_headers(scope))
            r = self.s.request(method, url, headers=headers, allow_redirects=True, **kw)
            kw["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if r.status_code == 401 and self._handle_challenge(r, scope):
                continue
            return r
        return r

    # --- read
    def ping(self) -> int:
        return self.request("GET", "/v2/").status_code

    def get_manifest(self, repo: str, ref: str) -> tuple[str, bytes, str]:
        accept = ", ".join([I.OCI_INDEX, I.DOCKER_MANIFEST_LIST, I.OCI_MANIFEST, I.DOCKER_MANIFEST])
        r = self.request("GET", f"/v2/{repo}/manifests/{ref}", f"repository:{repo}:pull",
                         headers={"Accept": accept})
        if r.status_code != 200:
            raise RegistryError(r.status_code, r.text, f"GET manifest {repo}:{ref}")
        return r.headers.get("Content-Type", ""), r.content, r.headers.get("Docker-Content-Digest", "")

    def get_blob(self, repo: str, digest: str) -> bytes:
        r = self.request("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull")
        if r.status_code != 200:
            raise RegistryError(r.status_code, r.text, f"GET blob {digest}")
        return r.content

    def tags(self, repo: str) -> list[str]:
        r = self.request("GET", f"/v2/{repo}/tags/list", f"repository:{repo}:pull")
        if r.status_code != 200:
            raise RegistryError(r.status_code, r.text, f"tags {repo}")
        return r.json().get("tags") or []

    # --- write
    def push_blob(self, repo: str, digest: str, data: bytes) -> None:
        scope = f"repository:{repo}:pull,push"
        if self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope).status_code == 200:
            return
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
        if r.status_code != 202:
            raise RegistryError(r.status_code, r.text, f"start upload {repo}")
        loc = urljoin(self.base + "/", r.headers["Location"])
        loc += ("&" if "?" in loc else "?") + urlencode({"digest": digest})
        r = self.request("PUT", loc, scope, data=data, headers={"Content-Type": "application/octet-stream",
                                                                "Content-Length": str(len(data))})
        if r.status_code != 201:
            raise RegistryError(r.status_code, r.text, f"PUT blob {digest}")

    def push_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        r = self.request("PUT", f"/v2/{repo}/manifests/{ref}", f"repository:{repo}:pull,push",
                         data=body, headers={"Content-Type": media_type})
        if r.status_code != 201:
            raise RegistryError(r.status_code, r.text, f"PUT manifest {repo}:{ref}")
        return r.headers.get("Docker-Content-Digest", "")

    def push(self, repo: str, obj: "I.Image | I.Index", tags: list[str] | str | None = "latest") -> str:
        """Upload blobs + manifest(s) of an Image or Index; tag it with `tags` (or only by digest)."""
        if isinstance(tags, str):
            tags = [tags]
        if isinstance(obj, I.Index):
            for im in obj.images:
                self.push(repo, im, None)
        else:
            for dgst, data in obj.blobs():
                self.push_blob(repo, dgst, data)
        mt = obj.media_type if isinstance(obj, I.Index) else obj.manifest_media_type
        for ref in (tags or []) + ([] if tags else [obj.digest]):
            got = self.push_manifest(repo, ref, obj.manifest_bytes, mt)
            assert not got or got == obj.digest, (got, obj.digest)
        return obj.digest


@dataclass
class Registry:
    """A running docker-registry. `host` is 127.0.0.1:PORT (what image references start with)."""
    variant: str
    port: int
    dir: Path
    proc: subprocess.Popen | None = None
    scheme: str = "http"
    ca_path: Path | None = None
    username: str | None = None
    password: str | None = None
    token_server: TokenServer | None = None
    public_repos: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def storage(self) -> Path:
        return self.dir / "storage"

    @property
    def log_path(self) -> Path:
        return self.dir / "registry.log"

    @property
    def needs_auth(self) -> bool:
        return self.variant in ("basic", "token")

    def ref(self, repo: str, tag: str | None = "latest") -> str:
        return f"{self.host}/{repo}" + (f":{tag}" if tag else "")

    def client(self, anonymous: bool = False, username: str | None = None,
               password: str | None = None) -> RegistryClient:
        u = username if username is not None else (None if anonymous else self.username)
        p = password if password is not None else (None if anonymous else self.password)
        return RegistryClient(self.url, str(self.ca_path) if self.ca_path else None, u, p)

    def push_image(self, repo: str, obj: "I.Image | I.Index", tags: list[str] | str | None = "latest") -> str:
        """Push with the registry's own credentials. Returns the manifest digest."""
        return self.client().push(repo, obj, tags)

    def blob_data_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def corrupt_blob(self, digest: str, mode: str = "flip") -> None:
        """Damage a stored blob in place: 'flip' keeps the size, 'truncate' halves it."""
        p = self.blob_data_path(digest)
        data = bytearray(p.read_bytes())
        if mode == "flip":
            for i in range(0, len(data), max(1, len(data) // 64)):
                data[i] ^= 0xFF
            data[len(data) // 2] ^= 0x5A
        elif mode == "truncate":
            data = data[: len(data) // 2]
        else:
            raise ValueError(mode)
        p.write_bytes(bytes(data))

    def docker_auth_config(self) -> dict:
        """An `auths` entry for a docker CLI config.json."""
        if self.username is None:
            return {}
        tok = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {self.host: {"auth": tok}}

    def stop(self) -> None:
        if self.proc is not None:
            stop_popen(self.proc)
            self.proc = None
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None

    def cleanup(self) -> None:
        self.stop()
        rmtree(self.dir)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""


def start_registry(variant: str = "http", users: dict[str, str] | None = None,
                   public_repos: set[str] | None = None, port: int | None = None) -> Registry:
    """Start a registry of `variant` in {"http","tls","basic","token"}."""
    if not os.path.exists(REGISTRY_BIN):
        raise RuntimeError(f"{REGISTRY_BIN} missing: apt-get install docker-registry")
    d = make_tmpdir(f"berth-reg-{variant}-")
    users = users or {DEFAULT_USER: DEFAULT_PASSWORD}
    reg = Registry(variant, port or free_port(), d)
    (d / "storage").mkdir()
    http = {"addr": reg.host, "secret": "berth-test-secret", "headers": {"X-Content-Type-Options": ["nosniff"]},
            "debug": {"addr": ""}}
    cfg: dict = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(d / "storage")}, "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": http,
    }
    try:
        if variant == "tls":
            ca, crt, key = make_ca(d / "tls")
            http["tls"] = {"certificate": str(crt), "key": str(key)}
            reg.scheme, reg.ca_path = "https", ca
        elif variant == "basic":
            lines = []
            for u, p in users.items():
                lines.append(run(["htpasswd", "-Bbn", u, p]).check().out.strip())
            (d / "htpasswd").write_text("\n".join(lines) + "\n")
            cfg["auth"] = {"htpasswd": {"realm": "berth-basic-realm", "path": str(d / "htpasswd")}}
            reg.username, reg.password = next(iter(users.items()))
        elif variant == "token":
            ts = TokenServer(d, users, public_repos).start()
            reg.token_server = ts
            reg.public_repos = ts.public_repos
            cfg["auth"] = {"token": {"realm": ts.realm, "service": ts.issuer.service,
                                     "issuer": ts.issuer.issuer, "rootcertbundle": str(ts.issuer.cert_path)}}
            reg.username, reg.password = next(iter(users.items()))
        elif variant != "http":
            raise ValueError(variant)
        # debug.addr "" would still be parsed; drop it (distribution only listens when set).
        http.pop("debug")
        import json as _json  # YAML is a superset of JSON
        (d / "config.yml").write_text(_json.dumps(cfg, indent=2))
        logf = open(reg.log_path, "wb")
        reg.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(d / "config.yml")], stdout=logf,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()

        def up():
            if reg.proc.poll() is not None:
                raise Fatal(f"docker-registry exited {reg.proc.returncode}: {reg.log()}")
            r = requests.get(reg.url + "/v2/", verify=str(reg.ca_path) if reg.ca_path else True, timeout=2)
            return r.status_code in (200, 401)

        wait_for(up, 20, what=f"docker-registry ({variant}) on {reg.host}")
    except BaseException:
        reg.cleanup()
        raise
    return reg
