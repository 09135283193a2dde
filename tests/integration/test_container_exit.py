"""Container and exec exits: seen as they happen (berthd watches each monitor through a pidfd; no
polling), and kept across berthd restarts (exits while berthd was down are recorded when it comes
back; containers still running are watched again; a monitor pid reused by another process is not
mistaken for the monitor).

The containers block on a FIFO bind-mounted from the test's temp dir, so the test decides the exact
moment the process exits and can time how long the daemon takes to notice."""
import errno
import json
import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from helpers.util import pid_alive, stop_pid, wait_for


def gate(dirpath: Path, name: str) -> Path:
    f = dirpath / name
    os.mkfifo(f)
    return f


def release(fifo: Path) -> float:
    """Lets the container blocked in `read x < FIFO` go on; returns the monotonic time it did."""
    def opened():
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) + 1  # fd 0 would read as "not yet"
        except OSError as e:
            if e.errno == errno.ENXIO:  # no reader yet: the container has not opened it
                return None
            raise
    fd = wait_for(opened, 30, 0.01, what=f"the container to open {fifo}") - 1
    os.write(fd, b"go\n")
    t = time.monotonic()
    os.close(fd)
    return t


def blocked(fifo_in_container: str, code: int) -> list[str]:
    return ["sh", "-c", f"read x < {fifo_in_container}; exit {code}"]


def berth_only(d):
    if d.kind != "berthd":
        pytest.skip("berthd's exec root layout (monitor pid files)")


def rfc3339(s: str) -> datetime:
    return datetime.strptime(s[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)


def test_wait_returns_promptly_after_exit(berthd, busybox, uniq, tmp_dir):
    name = f"exitfast-{uniq}"
    go = gate(tmp_dir, "go")
    berthd.docker("run", "-d", "--name", name, "-v", f"{tmp_dir}:/t", busybox, *blocked("/t/go", 7)).check()
    try:
        w = berthd.popen("docker", "wait", name)
        t0 = release(go)
        out, _ = w.communicate(timeout=30)
        took = time.monotonic() - t0
        assert out.decode().strip() == "7"
        assert took < 1.0, f"docker wait returned {took:.2f} s after the process exited"
        st = json.loads(berthd.docker("inspect", name).check().out)[0]["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 7 and st["Pid"] == 0
        assert abs((datetime.now(timezone.utc) - rfc3339(st["FinishedAt"])).total_seconds()) < 30
    finally:
        berthd.docker("rm", "-f", name)


def test_run_rm_returns_promptly(berthd, busybox, uniq, tmp_dir):
    go = gate(tmp_dir, "go")
    name = f"rmfast-{uniq}"
    p = berthd.popen("docker", "run", "--rm", "--name", name, "-v", f"{tmp_dir}:/t", busybox, *blocked("/t/go", 3))
    try:
        t0 = release(go)
        p.wait(30)
        took = time.monotonic() - t0
        assert p.returncode == 3
        assert took < 1.0, f"run --rm returned {took:.2f} s after the process exited"
        assert berthd.docker("inspect", name).rc != 0  # removed
    finally:
        if p.poll() is None:
            stop_pid(p.pid)
        berthd.docker("rm", "-f", name)


def test_exec_exit_is_seen_without_asking(berthd, busybox, uniq, tmp_dir):
    """A detached exec's exit is noticed by the daemon itself (exec_die event), not only when
    someone inspects the exec."""
    name = f"execfast-{uniq}"
    go = gate(tmp_dir, "go")
    berthd.docker("run", "-d", "--name", name, "-v", f"{tmp_dir}:/t", busybox, "sleep", "600").check()
    try:
        since = int(time.time()) - 1
        r = berthd.api("POST", f"/containers/{name}/exec", {"Cmd": blocked("/t/go", 4)})
        assert r.status == 201, r
        eid = r.json()["Id"]
        assert berthd.api("POST", f"/exec/{eid}/start", {"Detach": True}).status == 200
        release(go)
        time.sleep(1.0)
        until = int(time.time()) + 1
        ev = berthd.api("GET", f"/events?since={since}&until={until}")
        events = [json.loads(line) for line in ev.text.splitlines() if line.strip()]
        died = [e for e in events if e.get("Action") == "exec_die" and e["Actor"]["Attributes"].get("execID") == eid]
        assert died and died[0]["Actor"]["Attributes"]["exitCode"] == "4", events
        ins = berthd.api("GET", f"/exec/{eid}/json").json()
        assert ins["Running"] is False and ins["ExitCode"] == 4
    finally:
        berthd.docker("rm", "-f", name)


def test_killed_monitor_is_seen_promptly(berthd, busybox, uniq):
    berth_only(berthd)
    name = f"monkill-{uniq}"
    cid = berthd.docker("run", "-d", "--name", name, busybox, "sleep", "600").check().out.strip()
    try:
        pid = json.loads(berthd.docker("inspect", name).check().out)[0]["State"]["Pid"]
        mpid = int((berthd.exec_root / "m" / cid[:16] / "monitor.pid").read_text())
        w = berthd.popen("docker", "wait", name)
        time.sleep(0.3)
        os.kill(mpid, 9)
        t0 = time.monotonic()
        out, _ = w.communicate(timeout=30)
        took = time.monotonic() - t0
        assert out.decode().strip() == "137"
        assert took < 1.0, f"monitor loss noticed after {took:.2f} s"
        st = json.loads(berthd.docker("inspect", name).check().out)[0]["State"]
        assert st["Status"] == "exited" and st["Error"] == "container monitor lost"
        wait_for(lambda: not pid_alive(pid), 10, 0.05, what="the unmonitored process to be killed")
    finally:
        berthd.docker("rm", "-f", name)


def test_exits_while_down_and_watch_after_restart(daemon_factory, pushed, tmp_dir):
    d = daemon_factory()
    berth_only(d)
    ref = pushed.ref("it/busybox")
    d.docker("pull", "-q", ref).check()
    g1, g2, g3 = gate(tmp_dir, "g1"), gate(tmp_dir, "g2"), gate(tmp_dir, "g3")
    vol = ["-v", f"{tmp_dir}:/t"]
    d.docker("run", "-d", "--name", "early", *vol, ref, *blocked("/t/g1", 5)).check()
    gone = d.docker("run", "-d", "--rm", "--name", "gone", *vol, ref, *blocked("/t/g2", 0)).check().out.strip()
    d.docker("run", "-d", "--name", "late", *vol, ref, *blocked("/t/g3", 9)).check()
    d.stop()
    release(g1)
    release(g2)
    wait_for(lambda: len(list((d.exec_root / "m").glob("*/exit"))) == 2, 10, 0.05, what="two exit files")
    exited_before = datetime.now(timezone.utc)
    time.sleep(0.2)
    d.start()
    early = json.loads(d.docker("inspect", "early").check().out)[0]["State"]
    assert early["Status"] == "exited" and early["ExitCode"] == 5 and early["Running"] is False
    assert rfc3339(early["FinishedAt"]) <= exited_before  # the time from the exit file, not the restart
    # an auto-remove container that exited while berthd was down is removed, with all its files
    assert d.docker("inspect", "gone").rc != 0
    assert not (d.data_root / "containers" / gone).exists()
    assert not (d.data_root / "overlay2" / gone).exists()
    # still running at the restart: watched again, its exit is seen at once
    late = json.loads(d.docker("inspect", "late").check().out)[0]["State"]
    assert late["Running"] is True
    w = d.popen("docker", "wait", "late")
    t0 = release(g3)
    out, _ = w.communicate(timeout=30)
    took = time.monotonic() - t0
    assert out.decode().strip() == "9"
    assert took < 1.0, f"exit after the restart noticed after {took:.2f} s"
    d.docker("rm", "-f", "early", "late").check()


def test_reused_monitor_pid_is_not_the_monitor(daemon_factory, pushed):
    """After a restart, a saved monitor pid that now belongs to another process must not keep the
    container 'running': the monitor is lost (exit 137) and the unmonitored process is killed."""
    d = daemon_factory()
    berth_only(d)
    ref = pushed.ref("it/busybox")
    d.docker("pull", "-q", ref).check()
    cid = d.docker("run", "-d", "--name", "reused", ref, "sleep", "600").check().out.strip()
    pid = json.loads(d.docker("inspect", "reused").check().out)[0]["State"]["Pid"]
    mpid = int((d.exec_root / "m" / cid[:16] / "monitor.pid").read_text())
    d.stop()
    decoy = subprocess.Popen(["sleep", "600"])
    try:
        os.kill(mpid, 9)
        wait_for(lambda: not pid_alive(mpid), 10, 0.05, what="monitor gone")
        cfg = d.data_root / "containers" / cid / "config.v2.json"
        rec = json.loads(cfg.read_text())
        assert rec["MonitorPid"] == mpid
        rec["MonitorPid"] = decoy.pid
        cfg.write_text(json.dumps(rec))
        d.start()
        st = json.loads(d.docker("inspect", "reused").check().out)[0]["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 137 and st["Error"] == "container monitor lost"
        wait_for(lambda: not pid_alive(pid), 10, 0.05, what="the unmonitored process to be killed")
        assert decoy.poll() is None  # the decoy was left alone
    finally:
        stop_pid(decoy.pid)
        decoy.wait(5)
        d.docker("rm", "-f", "reused")


def overlay_options(merged: Path) -> str:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == str(merged):
            return f[-1]  # super options
    raise AssertionError(f"{merged} is not mounted")


def test_rm_containers_get_a_volatile_overlay(berthd, busybox, uniq):
    """--rm: the upper dir is thrown away, so its overlay is volatile (no sync of the host's file
    system when it is unmounted at exit); a kept container's overlay is not."""
    berth_only(berthd)
    rm = berthd.docker("run", "-d", "--rm", "--name", f"vol-{uniq}", busybox, "sleep", "600").check().out.strip()
    kept = berthd.docker("run", "-d", "--name", f"novol-{uniq}", busybox, "sleep", "600").check().out.strip()
    try:
        volatile = {"volatile", "fsync=volatile"}  # newer kernels show the latter
        assert volatile & set(overlay_options(berthd.data_root / "overlay2" / rm / "merged").split(","))
        assert not volatile & set(overlay_options(berthd.data_root / "overlay2" / kept / "merged").split(","))
    finally:
        berthd.docker("rm", "-f", f"vol-{uniq}", f"novol-{uniq}")
    assert not (berthd.data_root / "overlay2" / rm).exists()


def is_mount(path: Path) -> bool:
    return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())


def test_network_namespace_lives_with_the_process(berthd, busybox, uniq):
    """A container's own network namespace (`--network none`) is pinned under the exec root while
    it runs (loopback up) and gone after the exit, also when its monitor was killed."""
    berth_only(berthd)
    for how in ("exit", "monitor-killed"):
        name = f"netns-{how}-{uniq}"
        cid = berthd.docker("run", "-d", "--name", name, "--network", "none", busybox, "sleep", "600").check().out.strip()
        try:
            ns = berthd.exec_root / "netns" / cid
            assert is_mount(ns)
            pid = json.loads(berthd.docker("inspect", name).check().out)[0]["State"]["Pid"]
            assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(ns).st_ino
            out = berthd.docker("exec", name, "sh", "-c", "ip link show lo").check().out
            assert "UP" in out.split(">")[0], out
            if how == "exit":
                berthd.docker("kill", name).check()
            else:
                os.kill(int((berthd.exec_root / "m" / cid[:16] / "monitor.pid").read_text()), 9)
            berthd.docker("wait", name).check()
            assert not ns.exists() and not is_mount(ns)
        finally:
            berthd.docker("rm", "-f", name)
