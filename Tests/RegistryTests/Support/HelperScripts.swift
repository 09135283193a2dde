import Foundation
import TestSupport

// The auth, TLS and resume tests' extra servers and credentials: Python token server and fault-injecting
// proxy (script + launcher), and an openssl-made PKI.

/// Python test servers (token server, HTTP proxy with fault injection), written to a temp file at run time.
let helpersPython = #"""
# Test servers for RegistryTests (loopback only). Usage: python3 helpers.py MODE CONFIG_JSON
# Prints the listening port on the first stdout line.
import base64, hashlib, http.client, http.server, json, os, socket, subprocess, sys, threading, time, urllib.parse

mode = sys.argv[1]
cfg = json.loads(sys.argv[2])
lock = threading.Lock()
stats = {"token_requests": 0, "requests": [], "redirected_with_auth": 0, "redirected": 0}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Base(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""


# ---------------------------------------------------------------- token server
class Token(Base):
    def account(self, params, body_form):
        users = cfg["users"]
        if body_form is not None:
            gt = body_form.get("grant_type", [""])[0]
            if gt == "refresh_token":
                rt = body_form.get("refresh_token", [""])[0]
                for u in users:
                    if rt == "refresh-" + u:
                        return u, None
                return None, "invalid refresh token"
            if gt == "password":
                u = body_form.get("username", [""])[0]
                p = body_form.get("password", [""])[0]
                return (u, None) if users.get(u) == p else (None, "incorrect username or password")
            return None, "unsupported grant_type"
        auth = self.headers.get("Authorization")
        if not auth:
            return "", None
        if not auth.startswith("Basic "):
            return None, "bad auth"
        u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
        return (u, None) if users.get(u) == p else (None, "incorrect username or password")

    def issue(self, params, form):
        with lock:
            stats["token_requests"] += 1
        user, err = self.account(params, form)
        if err:
            return self.reply(401, {"details": err})
        src = form if form is not None else params
        scopes = []
        for s in src.get("scope", []):
            scopes += s.split(" ")
        access = []
        for s in scopes:
            parts = s.split(":")
            if len(parts) != 3:
                continue
            typ, name, actions = parts
            if user:
                granted = actions.split(",")
            elif name.startswith("public/"):
                granted = [a for a in actions.split(",") if a == "pull"]
            else:
                granted = []
            access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": cfg["issuer"], "sub": user, "aud": src.get("service", [cfg["service"]])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [cfg["cert_b64"]]}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", cfg["key"]], input=signing_input,
                             capture_output=True, check=True).stdout
        token = signing_input.decode() + "." + b64url(sig)
        out = {"token": token, "access_token": token, "expires_in": cfg.get("expires_in", 300)}
        offline = params.get("offline_token", ["false"])[0] == "true" or (form or {}).get("access_type", [""])[0] == "offline"
        if user and offline:
            out["refresh_token"] = "refresh-" + user
        self.reply(200, out)

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/__stats":
            with lock:
                return self.reply(200, dict(stats))
        self.issue(urllib.parse.parse_qs(u.query), None)

    def do_POST(self):
        form = urllib.parse.parse_qs(self.body().decode())
        self.issue({}, form)


# ---------------------------------------------------------------- HTTP proxy in front of a registry
class Proxy(Base):
    def handle_any(self):
        body = self.body()
        path = self.path
        if path == "/__stats":
            with lock:
                return self.reply(200, dict(stats))
        with lock:
            stats["requests"].append(self.command + " " + path)
        is_blob_get = self.command == "GET" and "/blobs/sha256:" in path and "/uploads/" not in path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
        if path.startswith("/redirected/"):
            with lock:
                stats["redirected"] += 1
                if "Authorization" in self.headers:
                    stats["redirected_with_auth"] += 1
            path = path[len("/redirected"):]
            headers.pop("Authorization", None)
            if cfg.get("redirect_auth"):
                headers["Authorization"] = cfg["redirect_auth"]
        elif is_blob_get and cfg.get("redirect"):
            return self.reply(307, b"", {"Location": "http://localhost:%d/redirected%s" % (self.server.server_port, path)})
        if path.startswith("/v2/") and path != "/v2/":
            with lock:
                fail = stats.get("fail_left", cfg.get("fail503", 0))
                stats["fail_left"] = max(fail - 1, 0)
            if fail > 0:
                return self.reply(503, {"errors": [{"code": "UNAVAILABLE", "message": "service unavailable"}]})
        if cfg.get("strip_range"):
            headers.pop("Range", None)
        conn = http.client.HTTPConnection(cfg["upstream_host"], cfg["upstream_port"], timeout=30)
        conn.request(self.command, path, body=body if body else None, headers=headers)
        r = conn.getresponse()
        cut = None
        if is_blob_get and r.status in (200, 206):
            with lock:
                left = stats.get("cuts_left", cfg.get("cuts", 0))
                if left > 0:
                    stats["cuts_left"] = left - 1
                    cut = cfg["cut_after"]
        rh = [(k, v) for k, v in r.getheaders() if k.lower() not in ("connection", "transfer-encoding", "content-length")]
        length = r.getheader("Content-Length")
        data = None
        if length is None and self.command != "HEAD":
            data = r.read()
            length = str(len(data))
        if cfg.get("mangle_manifests") and self.command == "GET" and "/manifests/sha256:" in path and r.status == 200:
            data = (data if data is not None else r.read()) + b"\n"
            length = str(len(data))
        self.send_response(r.status)
        for k, v in rh:
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command == "HEAD":
            conn.close()
            return
        if data is not None:
            self.wfile.write(data)
            conn.close()
            return
        sent = 0
        while True:
            chunk = r.read(16384)
            if not chunk:
                break
            if cut is not None and sent + len(chunk) >= cut:
                self.wfile.write(chunk[: cut - sent])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                conn.close()
                return
            self.wfile.write(chunk)
            sent += len(chunk)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


handler = {"token": Token, "proxy": Proxy}[mode]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", cfg.get("port", 0)), handler)
srv.daemon_threads = True
print(srv.server_port, flush=True)
srv.serve_forever()
"""#

extension TestSupport {
    /// Starts one of the Python helper servers (tied to the test process, like every server the
    /// tests start); returns it and its port.
    static func startPython(mode: String, config: [String: Any], dir: TempDir) async throws -> (ChildProcess, Int) {
        let script = try dir.write("helpers.py", helpersPython)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, mode, json]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        let child = try ChildProcess.start(p)
        // The first line is the port.
        let handle = out.fileHandleForReading
        var line = Data()
        while true {
            let b = handle.readData(ofLength: 1)
            if b.isEmpty || b == Data("\n".utf8) { break }
            line.append(b)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            child.stop()
            throw TestFailure("helper \(mode) did not start")
        }
        return (child, port)
    }
}

/// Test PKI made with the openssl CLI: a CA, a server cert for 127.0.0.1/localhost, a client cert,
/// and a self-signed token-signing cert.
struct TestPKI {
    let dir: TempDir
    var caCert: String { dir.file("ca.crt") }
    var serverCert: String { dir.file("server.crt") }
    var serverKey: String { dir.file("server.key") }
    var clientCert: String { dir.file("client.cert") }
    var clientKey: String { dir.file("client.key") }
    var tokenCert: String { dir.file("token.crt") }
    var tokenKey: String { dir.file("token.key") }

    static func make(in dir: TempDir) throws -> TestPKI {
        let pki = TestPKI(dir: dir)
        let o = "/usr/bin/openssl"
        try TestSupport.run(o, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA",
                                "-keyout", dir.file("ca.key"), "-out", pki.caCert])
        let ext = try dir.write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try TestSupport.run(o, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", pki.serverKey, "-out", dir.file("server.csr")])
        try TestSupport.run(o, ["x509", "-req", "-in", dir.file("server.csr"), "-CA", pki.caCert, "-CAkey", dir.file("ca.key"),
                                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", pki.serverCert])
        let cext = try dir.write("client.ext", "extendedKeyUsage=clientAuth\n")
        try TestSupport.run(o, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=berth client", "-keyout", pki.clientKey, "-out", dir.file("client.csr")])
        try TestSupport.run(o, ["x509", "-req", "-in", dir.file("client.csr"), "-CA", pki.caCert, "-CAkey", dir.file("ca.key"),
                                "-CAcreateserial", "-days", "2", "-extfile", cext, "-out", pki.clientCert])
        try TestSupport.run(o, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=token signer",
                                "-keyout", pki.tokenKey, "-out", pki.tokenCert])
        return pki
    }

    /// The token cert as base64 DER (for the JWT `x5c` header).
    func tokenCertBase64() throws -> String {
        let pem = try String(contentsOfFile: tokenCert, encoding: .utf8)
        return pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    }
}
