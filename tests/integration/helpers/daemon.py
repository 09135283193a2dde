"""Start/stop berthd (or, to check the tests themselves, a real dockerd) on a private unix socket.

berthd is started with dockerd's flag names:
  berthd -H unix://$TMP/berth.sock --data-root $TMP/data --exec-root $TMP/exec
         --pidfile $TMP/berthd.pid --config-file $TMP/daemon.json --insecure-registry HOST:PORT ...
and the environment BERTH_CERTS_DIR=$TMP/certs.d (per-registry `HOST:PORT/ca.crt`).

Env overrides: BERTHD (daemon binary), BERTH (CLI binary), DOCKER_CLI (docker client binary),
BERTH_IT_DAEMON=dockerd (run the suite against Debian's dockerd instead; the berth CLI is then
replaced by the docker CLI, so Docker's own behaviour checks the tests).
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Mapping

from .util import (REPO_ROOT, Fatal, Result, kill_process_trees_mentioning, make_tmpdir, pid_alive, rmtree, run,
                   stop_pid, unmount_under, wait_for)

DAEMON_KIND = os.environ.get("BERTH_IT_DAEMON", "berthd")
BERTHD = os.environ.get("BERTHD", str(REPO_ROOT / ".build/debug/berthd"))
BERTH = os.environ.get("BERTH", str(REPO_ROOT / ".build/debug/berth"))
DOCKER_CLI = os.environ.get("DOCKER_CLI", "/usr/local/bin/docker")
DOCKERD = os.environ.get("DOCKERD", "/usr/sbin/dockerd")


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket."""

    def __init__(self, path: str, timeout: float = 60):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class ApiResponse:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<ApiResponse {self.status} {self.text[:300]!r}>"


def install_ca(cert_dirs: Iterable[Path], host: str, ca: Path) -> list[Path]:
    """Copy `ca` to DIR/HOST/ca.crt for each dir. Returns what was created (to remove later)."""
    created: list[Path] = []
    for base in cert_dirs:
        for d in (base.parent, base, base / host):
            if not d.exists():
                d.mkdir(parents=True)
                created.append(d)
        dst = base / host / "ca.crt"
        if not dst.exists():
            dst.write_bytes(Path(ca).read_bytes())
            created.append(dst)
    return created


def uninstall(created: list[Path]) -> None:
    for p in reversed(created):
        try:
            p.unlink() if p.is_file() else p.rmdir()
        except OSError:
            pass


class Daemon:
    """A berthd (or dockerd) with its own temp dirs. Use `start()`, `stop()`, `cleanup()`."""

    def __init__(self, insecure: Iterable[str] = (), extra_args: Iterable[str] = (),
                 env: Mapping[str, str] | None = None, root: Path | None = None,
                 kind: str = DAEMON_KIND, daemon_json: dict | None = None):
        self.kind = kind
        self.tmp = root or make_tmpdir("berth-it-")
        self.sock = str(self.tmp / ("berth.sock" if kind == "berthd" else "docker.sock"))
        self.data_root = self.tmp / "data"
        self.exec_root = self.tmp / "exec"
        self.pidfile = self.tmp / ("berthd.pid" if kind == "berthd" else "dockerd.pid")
        self.config_file = self.tmp / "daemon.json"
        self.certs_dir = self.tmp / "certs.d"
        self.docker_config = self.tmp / "docker-config"
        self.log_path = self.tmp / f"{kind}.log"
        self.insecure = list(insecure)
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.daemon_json = daemon_json or {}
        self.proc: subprocess.Popen | None = None
        self._client = None
        for d in (self.certs_dir, self.docker_config):
            d.mkdir(parents=True, exist_ok=True)
        if not (self.docker_config / "config.json").exists():
            (self.docker_config / "config.json").write_text("{}\n")

    # ------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return "unix://" + self.sock

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients: DOCKER_HOST + a private DOCKER_CONFIG (also BERTH_CONFIG)."""
        return {"DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.docker_config),
                "BERTH_CONFIG": str(self.docker_config), "DOCKER_CLI_HINTS": "false",
                "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}

    def argv(self) -> list[str]:
        if self.kind == "dockerd":
            a = [DOCKERD, "-H", self.host, "--data-root", str(self.data_root), "--exec-root",
                 str(self.exec_root), "--pidfile", str(self.pidfile), "--config-file", str(self.config_file),
                 "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false"]
        else:
            a = [BERTHD, "-H", self.host, "--data-root", str(self.data_root), "--exec-root",
                 str(self.exec_root), "--pidfile", str(self.pidfile), "--config-file", str(self.config_file)]
        for r in self.insecure:
            a += ["--insecure-registry", r]
        return a + self.extra_args

    def start(self, timeout: float = 30) -> "Daemon":
        if not self.config_file.exists():
            self.config_file.write_text(json.dumps(self.daemon_json, indent=2) + "\n")
        binary = self.argv()[0]
        if not os.path.exists(binary):
            raise RuntimeError(f"{self.kind} binary not found at {binary} (build with scripts/build.sh, "
                               f"or set {'BERTHD' if self.kind == 'berthd' else 'DOCKERD'})")
        env = dict(os.environ)
        env.update({"BERTH_CERTS_DIR": str(self.certs_dir)})
        env.update(self.extra_env)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        logf.close()

        def up():
            if self.proc.poll() is not None:
                raise Fatal(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            return self.ping_ok()

        try:
            wait_for(up, timeout, 0.1, what=f"{self.kind} /_ping on {self.sock}")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- {self.kind} log ---\n{self.log()}") from None
        return self

    def ping_ok(self) -> bool:
        try:
            return self.api("GET", "/_ping", timeout=2).status == 200
        except OSError:
            return False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, then SIGKILL after `timeout` s (by pid)."""
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001
                pass
            self._client = None
        if self.proc is not None:
            stop_pid(self.proc.pid, timeout)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        if self.kind == "dockerd":
            self._stop_managed_containerd()

    def kill9(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        if self.kind == "dockerd":
            self._stop_managed_containerd()

    def restart(self) -> "Daemon":
        self.stop()
        return self.start()

    def _stop_managed_containerd(self) -> None:
        # dockerd starts its own containerd (pid in exec-root/containerd/containerd.pid).
        pf = self.exec_root / "containerd" / "containerd.pid"
        if pf.exists():
            try:
                pid = int(pf.read_text().strip())
                if pid_alive(pid):
                    stop_pid(pid, 10)
                pf.unlink()
            except (ValueError, OSError):
                pass

    def cleanup(self) -> None:
        self.stop()
        # Containers outlive berthd (live restore) and dockerd's shims outlive a killed dockerd: stop
        # whatever still runs for this daemon before unmounting its rootfs mounts.
        if kill_process_trees_mentioning(str(self.tmp) + "/"):
            time.sleep(0.2)
        unmount_under(self.tmp)
        rmtree(self.tmp)

    def log(self, tail: int = 8000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # ------------------------------------------------------------ clients
    def api(self, method: str, path: str, body: bytes | dict | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 60) -> ApiResponse:
        """One raw HTTP request to the daemon's socket."""
        c = UnixHTTPConnection(self.sock, timeout)
        h = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return ApiResponse(r.status, r.headers, data)
        finally:
            c.close()

    def docker(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None,
               timeout: float = 300) -> Result:
        """Run the docker CLI against this daemon."""
        e = self.env
        e.update(env or {})
        return run([DOCKER_CLI, *args], env=e, input=input, timeout=timeout)

    def berth(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None,
              timeout: float = 300) -> Result:
        """Run the berth CLI against this daemon (the docker CLI when checking against dockerd)."""
        e = self.env
        e.update(env or {})
        binary = BERTH if self.kind == "berthd" else DOCKER_CLI
        if not os.path.exists(binary):
            raise RuntimeError(f"berth CLI not found at {binary} (set BERTH)")
        return run([binary, *args], env=e, input=input, timeout=timeout)

    def cli(self, which: str, *args: str, **kw) -> Result:
        return (self.docker if which == "docker" else self.berth)(*args, **kw)

    def popen(self, which: str, *args: str) -> subprocess.Popen:
        binary = DOCKER_CLI if which == "docker" or self.kind != "berthd" else BERTH
        e = dict(os.environ)
        e.update(self.env)
        return subprocess.Popen([binary, *args], env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

    @property
    def client(self):
        """docker-py DockerClient on this daemon's socket (API version negotiated: 'auto')."""
        if self._client is None:
            import docker
            self._client = docker.DockerClient(base_url=self.host, version="auto", timeout=300)
        return self._client

    def new_client(self, **kw):
        import docker
        kw.setdefault("timeout", 300)
        return docker.DockerClient(base_url=self.host, **kw)

    def write_docker_config(self, cfg: dict) -> None:
        (self.docker_config / "config.json").write_text(json.dumps(cfg, indent=2))

    def add_auth(self, auths: dict) -> None:
        p = self.docker_config / "config.json"
        cfg = json.loads(p.read_text() or "{}")
        cfg.setdefault("auths", {}).update(auths)
        p.write_text(json.dumps(cfg, indent=2))

    # ------------------------------------------------------------ inspection helpers
    def image_ids(self) -> list[str]:
        return [i["Id"] for i in self.api("GET", "/images/json?all=1").json()]

    def inspect(self, ref: str) -> dict | None:
        from urllib.parse import quote
        r = self.api("GET", f"/images/{quote(ref, safe='/:@')}/json")
        return r.json() if r.status == 200 else None
