"""berthd as a process: flags, daemon.json, sockets (unix, TCP+TLS, systemd socket activation), sd_notify,
pidfile, side-by-side daemons, clean SIGTERM shutdown; the docker CLI and docker-py as clients.

Self-contained: the fixtures live in this file and start private daemons (no registries needed).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers.daemon import BERTHD, DAEMON_KIND, DOCKER_CLI, UnixHTTPConnection
from helpers.util import free_port, make_tmpdir, rmtree, run, wait_for

pytestmark = pytest.mark.skipif(DAEMON_KIND != "berthd", reason="berthd's own daemon behaviour")


class Proc:
    """One berthd process with private paths. `argv` extras are appended after the path flags."""

    def __init__(self, tmp: Path, *extra: str, hosts: list[str] | None = None, config: dict | str | None = None,
                 pidfile: Path | None = None, env: dict | None = None, name: str = "d"):
        self.tmp = tmp
        self.sock = tmp / f"{name}.sock"
        self.data_root = tmp / f"{name}-data"
        self.pidfile = pidfile or tmp / f"{name}.pid"
        self.config_file = tmp / f"{name}.json"
        text = config if isinstance(config, str) else json.dumps(config or {})
        self.config_file.write_text(text)
        self.log_path = tmp / f"{name}.log"
        hosts = hosts if hosts is not None else [f"unix://{self.sock}"]
        self.argv = [BERTHD]
        for h in hosts:
            self.argv += ["-H", h]
        self.argv += ["--data-root", str(self.data_root), "--exec-root", str(tmp / f"{name}-exec"),
                      "--pidfile", str(self.pidfile), "--config-file", str(self.config_file), *extra]
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None

    def start(self, pass_fds=(), argv=None) -> "Proc":
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(argv or self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, pass_fds=pass_fds,
                                         start_new_session=True)
        return self

    def run_to_exit(self, timeout=30) -> tuple[int, str]:
        self.start()
        rc = self.proc.wait(timeout)
        return rc, self.log()

    def wait_ready(self, sock: Path | None = None, timeout=30) -> "Proc":
        path = str(sock or self.sock)

        def ok():
            if self.proc.poll() is not None:
                raise RuntimeError(f"berthd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return api(path, "GET", "/_ping")[0] == 200
            except OSError:
                return False

        wait_for(ok, timeout, 0.05, what=f"berthd on {path}")
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"berthd did not stop within {timeout}s:\n{self.log()}")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def docker(self, *args, host=None, extra_env=None, timeout=60):
        env = {"DOCKER_HOST": host or f"unix://{self.sock}", "DOCKER_CONFIG": str(self.tmp / "docker-config"),
               "DOCKER_CLI_HINTS": "false"}
        env.update(extra_env or {})
        return run([DOCKER_CLI, *args], env=env, timeout=timeout)


def api(sock: str, method: str, path: str, body: bytes | None = None, headers=None):
    c = UnixHTTPConnection(sock, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


@pytest.fixture
def tmp():
    d = make_tmpdir("bd-")
    (d / "docker-config").mkdir()
    (d / "docker-config" / "config.json").write_text("{}")
    yield d
    rmtree(d)


@pytest.fixture
def procs():
    made: list[Proc] = []
    yield made
    for p in made:
        p.kill()


def start(procs, tmp, *extra, **kw) -> Proc:
    p = Proc(tmp, *extra, **kw)
    procs.append(p)
    return p.start()


# ------------------------------------------------------------------------------------------------ basics
def test_api_basics_and_clean_sigterm(tmp, procs):
    d = start(procs, tmp).wait_ready()
    sock = str(d.sock)
    st, h, body = api(sock, "GET", "/_ping")
    assert (st, body) == (200, b"OK") and h["API-Version"] == "1.50" and h["Server"].startswith("Docker/")
    st, h, body = api(sock, "HEAD", "/_ping")
    assert st == 200 and body == b"" and h["OSType"] == "linux"
    st, h, body = api(sock, "GET", "/version")
    v = json.loads(body)
    assert st == 200 and h["Content-Type"] == "application/json"
    assert v["ApiVersion"] == "1.50" and v["MinAPIVersion"] == "1.24" and v["Os"] == "linux" and v["Arch"] == "amd64"
    assert v["KernelVersion"] == os.uname().release
    assert [c["Name"] for c in v["Components"]] == ["Engine"]
    st, _, body = api(sock, "GET", "/v1.23/version")
    assert st == 400 and json.loads(body)["message"] == (
        "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")
    st, _, body = api(sock, "GET", "/v1.99/version")
    assert st == 400 and json.loads(body)["message"] == "client version 1.99 is too new. Maximum supported API version is 1.50"
    st, _, body = api(sock, "GET", "/info")
    info = json.loads(body)
    assert st == 200
    assert info["DockerRootDir"] == str(d.data_root) and info["NCPU"] == os.cpu_count()
    assert info["Driver"] == "overlay2" and info["CgroupDriver"] == "cgroupfs" and info["CgroupVersion"] in ("1", "2")
    assert info["IndexServerAddress"] == "https://index.docker.io/v1/"
    assert "127.0.0.0/8" in info["RegistryConfig"]["InsecureRegistryCIDRs"]
    assert "name=seccomp,profile=builtin" in info["SecurityOptions"]
    assert info["Name"] == socket.gethostname() and info["Containers"] == 0
    st, _, body = api(sock, "GET", "/v1.50/no/such/thing")
    assert st == 404 and json.loads(body) == {"message": "page not found"}
    st, _, _ = api(sock, "POST", "/v1.50/info")
    assert st == 404
    assert d.pidfile.read_text().strip() == str(d.proc.pid)
    assert oct(d.sock.stat().st_mode & 0o777) == "0o660"
    assert d.stop() == 0, d.log()
    assert not d.sock.exists() and not d.pidfile.exists()
    assert "Daemon shutdown complete" in d.log()


def test_engine_id_is_stable_per_data_root(tmp, procs):
    d = start(procs, tmp).wait_ready()
    first = json.loads(api(str(d.sock), "GET", "/info")[2])["ID"]
    assert d.stop() == 0
    d2 = start(procs, tmp).wait_ready()
    assert json.loads(api(str(d2.sock), "GET", "/info")[2])["ID"] == first
    other = start(procs, tmp, name="other").wait_ready()
    assert json.loads(api(str(other.sock), "GET", "/info")[2])["ID"] != first


def test_docker_cli_and_dockerpy(tmp, procs):
    d = start(procs, tmp, "--insecure-registry", "myreg:5000", "--registry-mirror", "https://mirror.example.com",
              "--label", "team=berth").wait_ready()
    for args in (["version"], ["info"], ["images"], ["system", "df"], ["events", "--since", "1m", "--until", "0s"]):
        r = d.docker(*args, timeout=30)
        assert r.rc == 0 and r.err.strip() == "", r
    assert d.docker("version", "--format", "{{.Server.APIVersion}}").check().out.strip() == "1.50"
    j = json.loads(d.docker("info", "--format", "{{json .}}").check().out)
    assert j["Labels"] == ["team=berth"]
    assert j["RegistryConfig"]["IndexConfigs"]["myreg:5000"]["Secure"] is False
    assert j["RegistryConfig"]["Mirrors"] == ["https://mirror.example.com/"]
    import docker
    for version in ("auto", None):
        c = docker.DockerClient(base_url=f"unix://{d.sock}", version=version, timeout=30)
        try:
            assert c.version()["ApiVersion"] == "1.50"
            assert c.info()["OSType"] == "linux"
            assert c.images.list() == []
            assert c.ping() is True
            assert c.df()["Images"] == []
        finally:
            c.close()


def test_events_stream_ends_on_sigterm(tmp, procs):
    d = start(procs, tmp).wait_ready()
    cli = subprocess.Popen([DOCKER_CLI, "events"], env=dict(os.environ, DOCKER_HOST=f"unix://{d.sock}"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        assert cli.poll() is None, "docker events should be waiting for events"
        t0 = time.monotonic()
        assert d.stop() == 0, d.log()
        assert time.monotonic() - t0 < 5
        assert cli.wait(10) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


# ------------------------------------------------------------------------------------------------ config
def test_validate_flag_and_config_errors(tmp, procs):
    rc, out = Proc(tmp, "--validate", name="v").run_to_exit()
    assert rc == 0 and "configuration OK" in out
    rc, out = Proc(tmp, config={"bogus": 1, "debug": True}, name="u").run_to_exit()
    assert rc == 1 and "the following directives don't match any configuration option: bogus" in out
    rc, out = Proc(tmp, "--debug", config={"debug": False}, name="c").run_to_exit()
    assert rc == 1
    assert ("the following directives are specified both as a flag and in the configuration file: "
            "debug: (from flag: true, from file: false)") in out
    rc, out = Proc(tmp, "--no-such-flag", name="f").run_to_exit()
    assert rc == 125 and "unknown flag: --no-such-flag" in out
    rc, out = Proc(tmp, "--log-level", "chatty", name="l").run_to_exit()
    assert rc == 1 and "invalid logging level: chatty" in out
    rc, out = Proc(tmp, "--config-file", str(tmp / "missing.json"), name="m").run_to_exit()
    assert rc == 1 and "missing.json" in out
    rc, out = Proc(tmp, "--max-concurrent-downloads", "-1", name="d").run_to_exit()
    assert rc == 1 and "invalid max concurrent downloads: -1" in out
    rc, out = Proc(tmp, config={"max-download-attempts": "3"}, name="a").run_to_exit()
    assert rc == 1 and ("cannot unmarshal string into Go struct field Config.max-download-attempts of type int"
                        in out)
    rc, out = Proc(tmp, "--max-concurrent-downloads", "x", name="x").run_to_exit()
    assert rc == 125 and 'invalid argument "x" for "--max-concurrent-downloads" flag' in out


def test_daemon_json_settings(tmp, procs):
    d = start(procs, tmp, config={"debug": True, "labels": ["a=b"], "insecure-registries": ["10.1.0.0/16"],
                                  "live-restore": True, "runtimes": {"crun": {"path": "/usr/bin/crun"}},
                                  "default-runtime": "crun"}).wait_ready()
    info = json.loads(api(str(d.sock), "GET", "/info")[2])
    assert info["Debug"] is True and info["Labels"] == ["a=b"] and info["LiveRestoreEnabled"] is True
    assert "10.1.0.0/16" in info["RegistryConfig"]["InsecureRegistryCIDRs"]
    assert info["DefaultRuntime"] == "crun" and info["Runtimes"]["crun"]["path"] == "/usr/bin/crun"
    assert "runc" in info["Runtimes"]


def test_pidfile_refuses_second_daemon_and_survives_kill9(tmp, procs):
    a = start(procs, tmp).wait_ready()
    b = Proc(tmp, pidfile=a.pidfile, name="b")
    procs.append(b)
    rc, out = b.run_to_exit()
    assert rc == 1
    assert (f"failed to start daemon, ensure berthd is not running or delete {a.pidfile}: "
            f"process with PID {a.proc.pid} is still running") in out
    assert api(str(a.sock), "GET", "/_ping")[0] == 200
    a.kill()  # SIGKILL: stale pidfile and socket stay behind
    assert a.pidfile.exists()
    c = start(procs, tmp).wait_ready()
    assert c.pidfile.read_text().strip() == str(c.proc.pid)
    assert c.stop() == 0


def test_two_daemons_side_by_side(tmp, procs):
    a = start(procs, tmp, name="a").wait_ready()
    b = start(procs, tmp, name="b").wait_ready()
    ia = json.loads(api(str(a.sock), "GET", "/info")[2])
    ib = json.loads(api(str(b.sock), "GET", "/info")[2])
    assert ia["DockerRootDir"] != ib["DockerRootDir"] and ia["ID"] != ib["ID"]
    assert a.stop() == 0
    assert api(str(b.sock), "GET", "/_ping")[0] == 200
    assert b.stop() == 0


def test_socket_group_and_missing_explicit_group(tmp, procs):
    rc, out = Proc(tmp, "--group", "no-such-group-xyz", name="g").run_to_exit()
    assert rc == 1 and "group no-such-group-xyz not found" in out
    d = start(procs, tmp, "--group", "0", name="g0").wait_ready()
    assert d.sock.stat().st_gid == 0


# ------------------------------------------------------------------------------------------------ TCP / TLS
def test_plain_tcp_needs_explicit_tls_false(tmp, procs):
    port = free_port()
    rc, out = Proc(tmp, hosts=[f"tcp://127.0.0.1:{port}"], name="t").run_to_exit()
    assert rc == 1 and "--tls=false" in out
    d = start(procs, tmp, "--tls=false", hosts=[f"tcp://127.0.0.1:{port}"], name="t2")
    wait_for(lambda: d.docker("version", host=f"tcp://127.0.0.1:{port}").rc == 0, 30, 0.1, what="tcp berthd")
    info = json.loads(d.docker("info", "--format", "{{json .}}", host=f"tcp://127.0.0.1:{port}").check().out)
    assert any("without encryption" in w for w in info.get("Warnings") or [])
    assert "Binding to IP address without --tlsverify is insecure" in d.log()
    assert d.stop() == 0


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def certs(tmp):
    """A CA, a server cert for 127.0.0.1/localhost and a client cert (clientAuth), plus an untrusted client."""
    d = tmp / "certs"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=berth-test-ca", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    # a client certificate from another CA
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue-key.pem", "-out", "rogue-cert.pem",
             "-days", "2", "-subj", "/CN=rogue", cwd=d)
    return d


def test_tlsverify_requires_client_certs(tmp, procs, certs, monkeypatch):
    # requests lets these override a session's CA file (psf/requests#3829)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    port = free_port()
    host = f"tcp://127.0.0.1:{port}"
    d = start(procs, tmp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
              str(certs / "server-cert.pem"), "--tlskey", str(certs / "server-key.pem"),
              hosts=[host, f"unix://{tmp / 'tls.sock'}"], name="tls")
    d.wait_ready(sock=tmp / "tls.sock")
    good = ["--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "client-cert.pem"),
            "--tlskey", str(certs / "client-key.pem"), "-H", host]
    r = d.docker(*good, "version", host="")
    assert r.rc == 0 and "Server:" in r.out, r
    assert d.docker(*good, "info", host="").rc == 0
    # no client certificate: the handshake fails
    r = d.docker("--tlsverify", "--tlscacert", str(certs / "ca.pem"), "-H", host, "version", host="")
    assert r.rc != 0, r
    # a certificate the CA did not sign
    r = d.docker("--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "rogue-cert.pem"),
                 "--tlskey", str(certs / "rogue-key.pem"), "-H", host, "version", host="")
    assert r.rc != 0, r
    # plain HTTP on the TLS port gets nothing useful
    r = run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{port}/_ping"])
    assert r.out != "OK"
    r = run(["curl", "-s", "-m", "5", "--cacert", str(certs / "ca.pem"), "--cert", str(certs / "client-cert.pem"),
             "--key", str(certs / "client-key.pem"), f"https://127.0.0.1:{port}/_ping"])
    assert r.out == "OK", r
    import docker
    tls = docker.tls.TLSConfig(client_cert=(str(certs / "client-cert.pem"), str(certs / "client-key.pem")),
                               ca_cert=str(certs / "ca.pem"), verify=True)
    c = docker.DockerClient(base_url=f"https://127.0.0.1:{port}", tls=tls, version="auto", timeout=30)
    try:
        assert c.ping() is True and c.version()["ApiVersion"] == "1.50"
    finally:
        c.close()
    assert d.stop() == 0


def test_tls_with_missing_certificate_fails_at_start(tmp):
    rc, out = Proc(tmp, "--tlsverify", "--tlscacert", str(tmp / "nope-ca.pem"), "--tlscert", str(tmp / "nope.pem"),
                   "--tlskey", str(tmp / "nope-key.pem"), hosts=[f"tcp://127.0.0.1:{free_port()}"],
                   name="bad").run_to_exit()
    assert rc == 1 and "invalid TLS configuration" in out and "nope.pem" in out


# ------------------------------------------------------------------------------------------------ systemd
def test_socket_activation_and_sd_notify(tmp, procs):
    path = tmp / "activated.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    notify_path = tmp / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    fd = listener.fileno()
    d = Proc(tmp, hosts=["fd://"], env={"NOTIFY_SOCKET": str(notify_path), "LISTEN_FDS": "1"}, name="sd")
    procs.append(d)
    # like systemd: the socket as fd 3, LISTEN_PID = the daemon's own pid
    argv = ["/bin/bash", "-c", f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ exec "$0" "$@"', *d.argv]
    d.start(pass_fds=(fd,), argv=argv)
    listener.close()  # the daemon owns it now
    assert notify.recv(256) == b"READY=1"
    d.wait_ready(sock=path)
    r = d.docker("version", host=f"unix://{path}")
    assert r.rc == 0, r
    assert d.stop() == 0, d.log()
    assert notify.recv(256) == b"STOPPING=1"
    notify.close()
    assert path.exists(), "an inherited socket belongs to systemd: berthd must not remove it"


def test_fd_host_without_systemd_fails(tmp):
    rc, out = Proc(tmp, hosts=["fd://"], name="nofd").run_to_exit()
    assert rc == 1 and "no sockets found via socket activation" in out


# ------------------------------------------------------------------------------------------------ footprint
def test_idle_memory(tmp, procs):
    d = start(procs, tmp).wait_ready()
    for _ in range(20):
        api(str(d.sock), "GET", "/info")
    time.sleep(0.5)
    status = Path(f"/proc/{d.proc.pid}/status").read_text()
    rss_kb = int(next(l for l in status.splitlines() if l.startswith("VmRSS:")).split()[1])
    threads = int(next(l for l in status.splitlines() if l.startswith("Threads:")).split()[1])
    print(f"berthd idle: VmRSS={rss_kb} kB threads={threads}")
    # The 20 MB target is for release builds (`swift build -c release --static-swift-stdlib`: ~9 MB after start,
    # ~16 MB after serving a while); debug builds carry far more code. CI can tighten with BERTH_IDLE_RSS_KB=20480.
    limit = int(os.environ.get("BERTH_IDLE_RSS_KB", "65536"))
    assert rss_kb <= limit, f"idle RSS {rss_kb} kB > {limit} kB"
    assert threads <= 12


@pytest.mark.skipif(not Path("/usr/bin/systemd-socket-activate").exists(), reason="systemd-socket-activate missing")
def test_systemd_socket_activate_tool(tmp, procs):
    path = tmp / "sa.sock"
    d = Proc(tmp, hosts=["fd://"], name="sa")
    procs.append(d)
    d.start(argv=["/usr/bin/systemd-socket-activate", "-l", str(path), *d.argv])
    wait_for(path.exists, 10, 0.05, what="activation socket")
    r = d.docker("version", "--format", "{{.Server.APIVersion}}", host=f"unix://{path}")  # first connect starts berthd
    assert r.rc == 0 and r.out.strip() == "1.50", r
    assert d.stop() == 0, d.log()
