"""A small Docker-registry token server (distribution's `auth: token` protocol), stdlib + cryptography.

GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]   (Basic credentials optional)
POST /token  (OAuth2 form: grant_type=password|refresh_token, username, password, scope, service)

Credentials are checked against `users`; a wrong password is 401. Authenticated users get every
action they ask for; anonymous callers get `pull` on `public_repos` only (other scopes are granted
empty, so the registry answers 401 insufficient_scope). Tokens are ES256 JWTs whose `kid` is the
libtrust key ID of the signing key; `rootcertbundle` is a self-signed cert for that key.

Run standalone: python3 -m helpers.tokenserver --dir DIR --port N --user u:p --public repo
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def libtrust_key_id(public_key) -> str:
    """libtrust's KeyID: base32(sha256(DER SubjectPublicKeyInfo)[:30]) in 12 ':'-separated groups of 4."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class TokenIssuer:
    """Signing key + self-signed cert (the registry's rootcertbundle) + JWT minting."""

    def __init__(self, workdir: Path, issuer: str = "berth-test-issuer", service: str = "berth-test-registry"):
        self.issuer, self.service = issuer, service
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test token signer")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_path = Path(workdir) / "token-signer.crt"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = libtrust_key_id(self.key.public_key())

    def mint(self, subject: str, access: list[dict], ttl: int = 300) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + ttl,
                  "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """'repository:name/with:colon?:pull,push' -> (type, name, actions). Name may hold ':' (host:port)."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    return parts[0], ":".join(parts[1:-1]), [a for a in parts[-1].split(",") if a]


class TokenServer:
    """Threaded HTTP token server on 127.0.0.1. `requests` records every token request."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None,
                 public_repos: set[str] | None = None, port: int = 0, ttl: int = 300):
        self.issuer = TokenIssuer(workdir)
        self.users = dict(users or {"berth": "s3cret"})
        self.public_repos = set(public_repos or {"public/busybox"})
        self.ttl = ttl
        self.requests: list[dict] = []
        self.refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _reply(self, code: int, obj: dict, extra: dict | None = None):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urlparse(self.path)
                if u.path != "/token":
                    return self._reply(404, {"error": "not found"})
                q = parse_qs(u.query)
                user = pw = None
                h = self.headers.get("Authorization", "")
                if h.lower().startswith("basic "):
                    try:
                        user, _, pw = base64.b64decode(h[6:].strip()).decode().partition(":")
                    except Exception:  # noqa: BLE001
                        return self._reply(400, {"error": "bad basic header"})
                outer._issue(self, q.get("scope", []), q.get("service", [""])[0], user, pw,
                             offline=q.get("offline_token", ["false"])[0] == "true", method="GET")

            def do_POST(self):
                u = urlparse(self.path)
                if u.path != "/token":
                    return self._reply(404, {"error": "not found"})
                n = int(self.headers.get("Content-Length", "0") or 0)
                form = parse_qs(self.rfile.read(n).decode())
                grant = form.get("grant_type", [""])[0]
                scopes = " ".join(form.get("scope", [])).split()
                service = form.get("service", [""])[0]
                if grant == "password":
                    outer._issue(self, scopes, service, form.get("username", [""])[0],
                                 form.get("password", [""])[0], offline=True, method="POST")
                elif grant == "refresh_token":
                    rt = form.get("refresh_token", [""])[0]
                    user = outer.refresh_tokens.get(rt)
                    if not user:
                        return self._reply(401, {"error": "invalid_grant"})
                    outer._issue(self, scopes, service, user, outer.users.get(user), offline=True,
                                 method="POST", refresh=rt)
                else:
                    self._reply(400, {"error": "unsupported_grant_type"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="token-server", daemon=True)

    def _issue(self, h, scopes, service, user, pw, offline, method, refresh=None):
        rec = {"method": method, "user": user, "scopes": list(scopes), "service": service, "status": None}
        with self._lock:
            self.requests.append(rec)
        if service and service != self.issuer.service:
            rec["status"] = 400
            return h._reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
        authed = False
        if user is not None and user != "":
            if self.users.get(user) != pw:
                rec["status"] = 401
                return h._reply(401, {"errors": [{"code": "UNAUTHORIZED",
                                                  "message": "incorrect username or password"}]},
                                {"WWW-Authenticate": 'Basic realm="berth-test-token"'})
            authed = True
        access = []
        for sc in scopes:
            p = parse_scope(sc)
            if not p:
                continue
            typ, name, actions = p
            if authed:
                granted = actions
            else:
                granted = [a for a in actions if a == "pull" and typ == "repository" and name in self.public_repos]
            access.append({"type": typ, "name": name, "actions": granted})
        token = self.issuer.mint(user if authed else "", access, self.ttl)
        body = {"token": token, "access_token": token, "expires_in": self.ttl,
                "issued_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if authed and offline:
            rt = refresh or uuid.uuid4().hex
            self.refresh_tokens[rt] = user
            body["refresh_token"] = rt
        rec["status"] = 200
        rec["granted"] = access
        h._reply(200, body)

    def start(self) -> "TokenServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", action="append", default=[], help="user:password")
    ap.add_argument("--public", action="append", default=[])
    a = ap.parse_args()
    users = dict(u.split(":", 1) for u in a.user) or None
    ts = TokenServer(Path(a.dir), users, set(a.public) or None, a.port)
    print(json.dumps({"port": ts.port, "realm": ts.realm, "cert": str(ts.issuer.cert_path),
                      "service": ts.issuer.service, "issuer": ts.issuer.issuer}), flush=True)
    ts.httpd.serve_forever()


if __name__ == "__main__":
    main()
