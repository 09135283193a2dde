"""Small process, port and file helpers shared by the harness."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Fatal(Exception):
    """Raised by a `wait_for` predicate to stop waiting at once."""


def wait_for(pred: Callable[[], object], timeout: float = 30.0, interval: float = 0.1,
             what: str = "condition") -> object:
    """Poll `pred` until it returns something truthy; raise TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Fatal:
            raise
        except Exception as e:  # noqa: BLE001 - surfaced below
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f": {last_exc!r}" if last_exc else ""))


def make_tmpdir(prefix: str) -> Path:
    """A short temp dir under /tmp (unix socket paths must stay < 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def mounts_under(root: Path) -> list[str]:
    """Mount points (from /proc/self/mountinfo) at or below `root`, deepest first."""
    root_s = str(root.resolve()) if root.exists() else str(root)
    out = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].encode().decode("unicode_escape")
                if mp == root_s or mp.startswith(root_s + "/"):
                    out.append(mp)
    except OSError:
        pass
    return sorted(set(out), key=lambda p: p.count("/"), reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount everything mounted at or below `root` (only there), deepest first."""
    for _ in range(3):
        mps = mounts_under(root)
        if not mps:
            return
        for mp in mps:
            if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mp], capture_output=True)


def rmtree(path: Path) -> None:
    """Unmount anything below `path`, then remove it."""
    if not path.exists():
        return
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():  # immutable/odd modes left by a test: try harder
        subprocess.run(["chmod", "-R", "u+rwx", str(path)], capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def stop_pid(pid: int, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to `pid`, wait up to `timeout` s, then SIGKILL. Only this pid."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def pid_alive(pid: int) -> bool:
    try:
        # Reap if it is our child.
        wpid, _ = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie that is not ours counts as dead
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                return False
    except OSError:
        return False
    return True


def stop_popen(p: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a Popen child: SIGTERM, then SIGKILL after `timeout` s; reap it."""
    if p.poll() is not None:
        return
    p.terminate()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)


@dataclass
class Result:
    """Outcome of a command: exit code, stdout, stderr (text)."""
    args: Sequence[str]
    rc: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> "Result":
        if self.rc != 0:
            raise AssertionError(f"command failed ({self.rc}): {' '.join(map(str, self.args))}\n"
                                 f"stdout:\n{self.out}\nstderr:\n{self.err}")
        return self

    def lines(self) -> list[str]:
        return [l for l in self.out.splitlines() if l.strip()]

    def __str__(self) -> str:
        return f"$ {' '.join(map(str, self.args))}\n[rc={self.rc}]\n{self.out}{self.err}"


def run(args: Sequence[str | os.PathLike], env: Mapping[str, str] | None = None,
        input: str | bytes | None = None, timeout: float = 300, cwd: str | None = None) -> Result:
    """Run a command to completion with captured text output (never raises on rc != 0)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run([str(a) for a in args], env=full_env, input=input if input is not None else b"",
                       capture_output=True, timeout=timeout, cwd=cwd)
    return Result([str(a) for a in args], p.returncode, p.stdout.decode(errors="replace"),
                  p.stderr.decode(errors="replace"))


def which(name: str, extra: Iterable[str] = ()) -> str | None:
    for d in extra:
        c = Path(d) / name
        if c.exists():
            return str(c)
    return shutil.which(name)


def kill_process_trees_mentioning(text: str) -> list[int]:
    """SIGKILL, by pid, every process whose command line contains `text` (e.g. a test daemon's private dir:
    its berth-monitors, containerd-shims) together with all their descendants (the containers' processes),
    so that a test run never leaves a container running after its daemon is gone. Returns the pids killed."""
    me = os.getpid()
    parent: dict[int, int] = {}
    roots: list[int] = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent[pid] = int(stat[stat.rindex(b")") + 2:].split()[1])
        if text in cmd and pid != me:
            roots.append(pid)
    children: dict[int, list[int]] = {}
    for pid, pp in parent.items():
        children.setdefault(pp, []).append(pid)
    doomed: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in doomed or pid == me:
            continue
        doomed.append(pid)
        todo.extend(children.get(pid, []))
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return doomed

