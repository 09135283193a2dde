"""Containers end to end: docker CLI 28 and docker-py against berthd (create/start/attach/wait/logs/
stop/kill/rm/inspect/ps), with busybox images from the test registry.

`BERTH_IT_RUNTIME` (e.g. `runc`, the name of an `--add-runtime`) picks `--runtime` for the containers;
default: the daemon's default runtime (berth's own `berth-runtime`)."""
import json
import os
import time
from urllib.parse import quote

import pytest

RUNTIME = os.environ.get("BERTH_IT_RUNTIME", "")


def rt_args() -> list[str]:
    return ["--runtime", RUNTIME] if RUNTIME else []


def run(berthd, *args, **kw):
    return berthd.docker(*args, **kw)


def test_run_rm_echo(berthd, busybox, uniq):
    r = run(berthd, "run", "--rm", "--name", f"echo-{uniq}", *rt_args(), busybox, "echo", "hi")
    assert r.rc == 0, r
    assert r.out == "hi\n"
    ps = run(berthd, "ps", "-a", "--format", "{{.Names}}").check()
    assert f"echo-{uniq}" not in ps.out


def test_run_exit_code_and_stderr(berthd, busybox, uniq):
    r = run(berthd, "run", "--rm", *rt_args(), busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.rc == 3, r
    assert r.out == "out\n"
    assert "err" in r.err


def test_detached_lifecycle(berthd, busybox, uniq):
    name = f"det-{uniq}"
    r = run(berthd, "run", "-d", "--name", name, "-e", "FOO=bar", "--label", f"t={uniq}", *rt_args(), busybox,
            "sh", "-c", "echo started $FOO; exec sleep 600").check()
    cid = r.out.strip()
    assert len(cid) == 64
    try:
        ps = run(berthd, "ps", "--filter", f"label=t={uniq}", "--format", "{{.ID}} {{.Names}} {{.Status}}").check()
        assert ps.out.startswith(cid[:12] + " " + name + " Up"), ps.out
        info = json.loads(run(berthd, "inspect", name).check().out)[0]
        assert info["Id"] == cid and info["Name"] == "/" + name
        assert info["State"]["Running"] is True and info["State"]["Status"] == "running" and info["State"]["Pid"] > 0
        assert info["Config"]["Hostname"] == cid[:12]
        assert "FOO=bar" in info["Config"]["Env"]
        assert info["Path"] == "sh" and info["Args"][0] == "-c"
        assert info["Driver"] == "overlay2" and info["LogPath"].endswith(f"{cid}-json.log")
        deadline = time.time() + 10
        while time.time() < deadline:
            logs = run(berthd, "logs", name).check()
            if "started bar" in logs.out:
                break
            time.sleep(0.2)
        assert logs.out == "started bar\n"
        t0 = time.time()
        run(berthd, "stop", "-t", "1", name).check()
        assert time.time() - t0 < 8
        info = json.loads(run(berthd, "inspect", name).check().out)[0]
        assert info["State"]["Status"] == "exited" and info["State"]["Running"] is False
        assert info["State"]["ExitCode"] in (137, 143)
        # stop again: 304, the CLI says nothing and succeeds
        run(berthd, "stop", name).check()
        k = run(berthd, "kill", name)
        assert k.rc != 0 and "is not running" in k.err
    finally:
        run(berthd, "rm", "-f", name)
    assert run(berthd, "inspect", name).rc != 0


def test_rm_running_needs_force(berthd, busybox, uniq):
    name = f"rmf-{uniq}"
    run(berthd, "run", "-d", "--name", name, *rt_args(), busybox, "sleep", "600").check()
    r = run(berthd, "rm", name)
    assert r.rc != 0
    assert "container is running: stop the container before removing or force remove" in r.err
    run(berthd, "rm", "-f", name).check()
    assert run(berthd, "inspect", name).rc != 0


def test_wait_and_name_conflict(berthd, busybox, uniq):
    name = f"wait-{uniq}"
    run(berthd, "create", "--name", name, *rt_args(), busybox, "sh", "-c", "exit 7").check()
    try:
        c = run(berthd, "create", "--name", name, busybox, "true")
        assert c.rc != 0 and f'The container name "/{name}" is already in use by container' in c.err
        run(berthd, "start", name).check()
        w = run(berthd, "wait", name).check()
        assert w.out.strip() == "7"
    finally:
        run(berthd, "rm", "-f", name)


def test_create_errors(berthd, busybox, uniq):
    r = berthd.api("POST", "/containers/create", {"Image": "nope-" + uniq})
    assert r.status == 404 and f"No such image: nope-{uniq}:latest" in r.text
    r = berthd.api("POST", f"/containers/create?name=m-{uniq}", {"Image": busybox, "HostConfig": {"Memory": 1024}})
    assert r.status == 400 and "Minimum memory limit allowed is 6MB" in r.text
    assert berthd.api("GET", f"/containers/m-{uniq}/json").status == 404
    r = berthd.api("POST", "/containers/create?name=-bad", {"Image": busybox})
    assert r.status == 400


def test_create_platform(berthd, busybox, uniq):
    # the local image is linux/amd64: asking for it is fine, asking for arm64 is "not found" (the CLI then pulls)
    r = berthd.api("POST", f"/containers/create?name=pa-{uniq}&platform=linux/amd64", {"Image": busybox})
    assert r.status == 201, r
    berthd.api("DELETE", f"/containers/pa-{uniq}")
    r = berthd.api("POST", f"/containers/create?name=pb-{uniq}&platform=linux/arm64", {"Image": busybox})
    assert r.status == 404, r
    assert (f"image with reference {busybox} was found but does not match the specified platform: "
            "wanted linux/arm64, actual: linux/amd64") in r.text
    assert berthd.api("GET", f"/containers/pb-{uniq}/json").status == 404


def test_user_workdir_hostname(berthd, busybox, uniq):
    r = run(berthd, "run", "--rm", "-u", "berth", "-w", "/tmp/wd", "-h", "myhost", *rt_args(), busybox,
            "sh", "-c", "id -u; id -g; pwd; hostname").check()
    assert r.out.split() == ["1000", "1000", "/tmp/wd", "myhost"]


def test_docker_py(berthd, busybox, uniq):
    client = berthd.new_client(version="auto")
    try:
        kw = {"runtime": RUNTIME} if RUNTIME else {}
        out = client.containers.run(busybox, "echo hi", remove=True, **kw)
        assert out == b"hi\n"
        c = client.containers.create(busybox, ["sh", "-c", "echo a; echo b >&2; exit 2"], name=f"py-{uniq}", **kw)
        c.start()
        assert c.wait()["StatusCode"] == 2
        assert c.logs(stdout=True, stderr=False) == b"a\n"
        assert c.logs(stdout=False, stderr=True) == b"b\n"
        c.reload()
        assert c.status == "exited"
        c.remove()
    finally:
        client.close()


def test_restore_after_restart(daemon_factory, pushed, uniq):
    d = daemon_factory()
    ref = pushed.ref("it/busybox")
    d.docker("pull", "-q", ref).check()
    d.docker("run", "-d", "--name", "live", *rt_args(), ref, "sleep", "600").check()
    d.docker("run", "-d", "--name", "short", *rt_args(), ref, "sh", "-c", "sleep 2; exit 5").check()
    d.stop()
    time.sleep(3)
    d.start()
    info = json.loads(d.docker("inspect", "live", "short").check().out)
    assert info[0]["State"]["Running"] is True
    assert info[1]["State"]["Status"] == "exited" and info[1]["State"]["ExitCode"] == 5
    d.docker("rm", "-f", "live", "short").check()


def test_exec(berthd, busybox, uniq):
    name = f"exec-{uniq}"
    run(berthd, "run", "-d", "--name", name, *rt_args(), busybox, "sleep", "600").check()
    try:
        r = run(berthd, "exec", name, "sh", "-c", "echo hi; echo err >&2; exit 4")
        assert r.rc == 4 and r.out == "hi\n" and r.err == "err\n", r
        r = run(berthd, "exec", "-i", name, "cat", input="piped\n").check()
        assert r.out == "piped\n"
        r = run(berthd, "exec", "-u", "berth", "-w", "/tmp", "-e", "X=1", name, "sh", "-c", "id -u; pwd; echo $X").check()
        assert r.out.split() == ["1000", "/tmp", "1"]
        r = run(berthd, "exec", name, "nope")
        assert r.rc == 127 and "executable file not found" in (r.out + r.err)
        client = berthd.new_client(version="auto")
        try:
            c = client.containers.get(name)
            code, out = c.exec_run(["sh", "-c", "echo py; exit 3"])
            assert code == 3 and out == b"py\n"
        finally:
            client.close()
        r = berthd.api("POST", f"/containers/{name}/exec", {"Cmd": []})
        assert r.status == 400
    finally:
        run(berthd, "rm", "-f", name)
    r = berthd.api("POST", f"/containers/{name}/exec", {"Cmd": ["true"]})
    assert r.status == 404


def test_attach_stdin_and_tty(berthd, busybox, uniq):
    r = run(berthd, "run", "-i", "--rm", *rt_args(), busybox, "cat", input="hello\n").check()
    assert r.out == "hello\n"
    r = run(berthd, "run", "--rm", "--log-driver", "none", *rt_args(), busybox, "echo", "nolog").check()
    assert r.out == "nolog\n"


def test_logs_options(berthd, busybox, uniq):
    name = f"logs-{uniq}"
    run(berthd, "run", "--name", name, *rt_args(), busybox, "sh", "-c",
        "echo one; echo two >&2; echo three").check()
    try:
        t = run(berthd, "logs", "--tail", "1", name).check()
        assert (t.out + t.err) in ("three\n", "two\n")  # stdout and stderr are separate pipes: order may vary
        assert run(berthd, "logs", "--tail", "0", name).check().out == ""
        r = run(berthd, "logs", name).check()
        assert r.out == "one\nthree\n" and r.err == "two\n"
        ts = run(berthd, "logs", "-t", name).check().out.splitlines()
        assert len(ts) == 2 and ts[0].endswith("Z one") and len(ts[0].split()[0]) == 30
        r = berthd.api("GET", f"/containers/{name}/logs?stdout=1")
        assert r.status == 200 and r.body[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x04" and r.body[8:12] == b"one\n"
        ps = run(berthd, "ps", "-a", "--filter", f"name={name}", "--filter", "exited=0", "--format", "{{.Status}}").check()
        assert ps.out.startswith("Exited (0)")
    finally:
        run(berthd, "rm", name)


def test_host_config_flags(berthd, busybox, uniq):
    r = run(berthd, "run", "--rm", *rt_args(), "--read-only", "-m", "64m", "--pids-limit", "20",
            "--ulimit", "nofile=123:456", "--cap-drop", "CHOWN", "--security-opt", "no-new-privileges", busybox,
            "sh", "-c", "touch /x 2>/dev/null || echo ro; ulimit -n; "
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
            "grep NoNewPrivs /proc/self/status; ip link show lo | head -1").check()
    lines = r.out.splitlines()
    assert lines[:4] == ["ro", "123", str(64 << 20), "20"], r.out
    assert lines[4].split() == ["NoNewPrivs:", "1"]
    assert "UP" in lines[5]  # --network none (the default): own netns, loopback up
    r = run(berthd, "run", "--rm", *rt_args(), "--privileged", busybox, "true")
    assert r.rc == 0, r
    host = run(berthd, "run", "--rm", *rt_args(), "--network", "host", busybox, "hostname").check()
    assert host.out.strip() == os.uname().nodename


def test_pause_top_rename_prune(berthd, busybox, uniq):
    name = f"ptr-{uniq}"
    run(berthd, "run", "-d", "--name", name, "--label", f"p={uniq}", *rt_args(), busybox, "sleep", "600").check()
    try:
        top = run(berthd, "top", name).check()
        assert "sleep 600" in top.out
        run(berthd, "pause", name).check()
        assert json.loads(run(berthd, "inspect", name).check().out)[0]["State"]["Status"] == "paused"
        run(berthd, "unpause", name).check()
        run(berthd, "rename", name, name + "-2").check()
        assert run(berthd, "inspect", name).rc != 0
        name += "-2"
        run(berthd, "stop", "-t", "0", name).check()
        r = berthd.api("POST", "/containers/prune?filters=" + quote(json.dumps({"label": [f"p={uniq}"]})))
        assert r.status == 200 and len(r.json()["ContainersDeleted"]) == 1
    finally:
        run(berthd, "rm", "-f", name)


def test_other_runtime_runc(runc_daemon, pushed, uniq):
    """`--add-runtime` + `--runtime`: the same container path through the real runc."""
    d = runc_daemon
    ref = pushed.ref("it/busybox")
    r = d.docker("run", "--rm", "--runtime", "realrunc", ref, "sh", "-c", "echo hi; exit 2")
    assert r.rc == 2 and r.out == "hi\n", r
    d.docker("run", "-d", "--name", "rr", "--runtime", "realrunc", ref, "sleep", "600").check()
    assert d.docker("exec", "rr", "echo", "x").check().out == "x\n"
    assert json.loads(d.docker("inspect", "rr").check().out)[0]["HostConfig"]["Runtime"] == "realrunc"
    d.docker("rm", "-f", "rr").check()
    bad = d.api("POST", "/containers/create", {"Image": ref, "HostConfig": {"Runtime": "nope"}})
    assert bad.status == 400 and "unknown or invalid runtime name: nope" in bad.text


def test_docker_py_streams(berthd, busybox, uniq):
    client = berthd.new_client(version="auto")
    try:
        c = client.containers.run(busybox, ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"], detach=True,
                                  name=f"pys-{uniq}")
        got = b"".join(c.logs(stream=True, follow=True))
        assert got == b"1\n2\n3\n"
        assert c.wait(condition="not-running")["StatusCode"] == 0
        c.remove()
        c = client.containers.run(busybox, "sleep 600", detach=True, name=f"pyx-{uniq}")
        out = b"".join(c.exec_run("sh -c 'echo a; echo b'", stream=True).output)
        assert out == b"a\nb\n"
        c.kill()
        assert c.wait()["StatusCode"] == 137
        c.remove()
    finally:
        client.close()


def test_bind_and_tmpfs_mounts(berthd, busybox, uniq, tmp_dir):
    src = tmp_dir / "vol"
    src.mkdir()
    (src / "f").write_text("data\n")
    new = tmp_dir / "created-by-v"
    r = run(berthd, "run", "--rm", *rt_args(), "-v", f"{src}:/v:ro", "-v", f"{new}:/n",
            "--mount", "type=tmpfs,target=/t", busybox,
            "sh", "-c", "cat /v/f; touch /v/x 2>/dev/null || echo ro; touch /n/y && echo rw; grep -c ' /t tmpfs' /proc/mounts").check()
    assert r.out.split() == ["data", "ro", "rw", "1"], r.out
    assert (new / "y").exists()
    bad = run(berthd, "run", "--rm", *rt_args(), "--mount", "type=bind,source=/nonexistent-" + uniq + ",target=/x", busybox, "true")
    assert bad.rc != 0 and "bind source path does not exist" in bad.err


def test_stats_no_stream(berthd, busybox, uniq):
    name = f"stats-{uniq}"
    run(berthd, "run", "-d", "--name", name, "-m", "64m", *rt_args(), busybox, "sleep", "600").check()
    try:
        r = run(berthd, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}}", name).check()
        fields = r.out.split()
        assert fields[0] == name and fields[-1] == "1" and "64MiB" in r.out, r.out
        s = berthd.api("GET", f"/containers/{name}/stats?stream=0&one-shot=1").json()
        assert s["memory_stats"]["limit"] == 64 << 20 and s["pids_stats"]["current"] == 1
    finally:
        run(berthd, "rm", "-f", name)
