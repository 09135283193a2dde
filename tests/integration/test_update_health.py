"""`update` (cgroup limits of running and stopped containers, Docker's errors), healthchecks
(probes as execs, healthy/unhealthy transitions, events, ps, filters, image HEALTHCHECK,
--no-healthcheck, timeouts, daemon restart) and `stats` (--no-stream, streaming, docker-py).

The limits are checked in the container's own cgroup files under /sys/fs/cgroup (found through
/proc/PID/cgroup of its init), so they prove what the kernel enforces, not what inspect says."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers import images as I
from helpers.daemon import DOCKER_CLI
from helpers.util import wait_for

MIB = 1 << 20


@pytest.fixture(scope="module")
def health_image(berthd, reg_http):
    """busybox with an image HEALTHCHECK (CMD-SHELL, 200ms interval) that passes once /tmp/ok exists."""
    im = I.busybox_image(labels={"purpose": "healthcheck"})
    base = im.config_obj

    def config_obj():
        o = base()
        o["config"]["Healthcheck"] = {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 200_000_000,
                                      "Retries": 2}
        return o

    im.config_obj = config_obj
    reg_http.push_image("it/busybox-health", im)
    ref = reg_http.ref("it/busybox-health")
    berthd.docker("pull", "-q", ref).check()
    return ref


def inspect(d, name) -> dict:
    return json.loads(d.docker("inspect", name).check().out)[0]


def cgroup_file(d, name: str, controller: str, file: str) -> str:
    """A cgroup v1 file of the container (v2: the unified file of the same name)."""
    pid = inspect(d, name)["State"]["Pid"]
    assert pid > 0
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            base = "/sys/fs/cgroup/" + ("cpu,cpuacct" if controller in ("cpu", "cpuacct") and
                                        Path("/sys/fs/cgroup/cpu,cpuacct").exists() else controller)
            return Path(base + path, file).read_text().strip()
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    assert v2, f"no {controller} hierarchy for {name}"
    path = Path(f"/proc/{pid}/cgroup").read_text().strip().split(":", 2)[2]
    return Path("/sys/fs/cgroup" + path, file).read_text().strip()


def limits(d, name) -> dict:
    return {
        "memory": int(cgroup_file(d, name, "memory", "memory.limit_in_bytes")),
        "memsw": int(cgroup_file(d, name, "memory", "memory.memsw.limit_in_bytes")),
        "quota": int(cgroup_file(d, name, "cpu", "cpu.cfs_quota_us")),
        "period": int(cgroup_file(d, name, "cpu", "cpu.cfs_period_us")),
        "shares": int(cgroup_file(d, name, "cpu", "cpu.shares")),
        "pids": cgroup_file(d, name, "pids", "pids.max"),
        "cpus": cgroup_file(d, name, "cpuset", "cpuset.cpus"),
    }


needs_v1 = pytest.mark.skipif(Path("/sys/fs/cgroup/cgroup.controllers").exists(), reason="cgroup v1 file names")


# ---------------------------------------------------------------- update
@needs_v1
def test_update_running_with_docker_cli(berthd, busybox, uniq):
    name = f"upd-{uniq}"
    berthd.docker("run", "-d", "--name", name, "-m", "32m", busybox, "sleep", "600").check()
    try:
        assert inspect(berthd, name)["HostConfig"]["MemorySwap"] == 64 * MIB  # dockerd: twice the memory
        r = berthd.docker("update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "50",
                          "--cpu-shares", "512", "--cpuset-cpus", "0", "--memory-reservation", "16m",
                          "--restart", "on-failure:3", name).check()
        assert r.out == name + "\n"
        lim = limits(berthd, name)
        assert lim == {"memory": 64 * MIB, "memsw": 128 * MIB, "quota": 50_000, "period": 100_000, "shares": 512,
                       "pids": "50", "cpus": "0"}
        assert int(cgroup_file(berthd, name, "memory", "memory.soft_limit_in_bytes")) == 16 * MIB
        hc = inspect(berthd, name)["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["MemoryReservation"], hc["NanoCpus"], hc["PidsLimit"],
                hc["CpuShares"], hc["CpusetCpus"]) == (64 * MIB, 128 * MIB, 16 * MIB, 500_000_000, 50, 512, "0")
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        # Growing past the current memory+swap needs memsw written first; shrinking the other way round.
        berthd.docker("update", "-m", "300m", "--memory-swap", "600m", name).check()
        assert (limits(berthd, name)["memory"], limits(berthd, name)["memsw"]) == (300 * MIB, 600 * MIB)
        berthd.docker("update", "-m", "40m", "--memory-swap", "50m", name).check()
        assert (limits(berthd, name)["memory"], limits(berthd, name)["memsw"]) == (40 * MIB, 50 * MIB)
        berthd.docker("update", "--pids-limit", "-1", name).check()
        assert limits(berthd, name)["pids"] == "max"
        assert inspect(berthd, name)["HostConfig"]["PidsLimit"] in (0, None)
        # A new start builds the cgroup again from the stored config. (stop, then start once the
        # `die` event is out, i.e. the exit is fully handled: this checks the stored config, not
        # restart's timing.)
        t0 = time.time()
        berthd.docker("stop", "-t", "0", name).check()
        wait_for(lambda: events(berthd, t0, {"container": [name], "event": ["die"]}), 10, 0.1, what="die event")
        berthd.docker("start", name).check()
        lim = limits(berthd, name)
        assert (lim["memory"], lim["memsw"], lim["quota"], lim["shares"], lim["cpus"]) == (40 * MIB, 50 * MIB, 50_000, 512, "0")
    finally:
        berthd.docker("rm", "-f", name)


@needs_v1
def test_update_with_docker_py(berthd, busybox, uniq):
    name = f"updpy-{uniq}"
    c = berthd.client.containers.run(busybox, ["sleep", "600"], name=name, detach=True)
    try:
        res = c.update(mem_limit="96m", memswap_limit="192m", cpu_period=50_000, cpu_quota=25_000, cpu_shares=256,
                       restart_policy={"Name": "unless-stopped"})
        assert res["Warnings"] in ([], None)
        lim = limits(berthd, name)
        assert (lim["memory"], lim["memsw"], lim["period"], lim["quota"], lim["shares"]) == (96 * MIB, 192 * MIB, 50_000, 25_000, 256)
        c.reload()
        assert c.attrs["HostConfig"]["CpuQuota"] == 25_000 and c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        # Period/quota set: --cpus is now a conflict (409), nothing changes.
        r = berthd.api("POST", f"/containers/{name}/update", {"NanoCpus": 1_000_000_000})
        assert r.status == 409, r
        assert r.json()["message"] == (f"Cannot update container {c.id}: Conflicting options: "
                                       "Nano CPUs cannot be updated as CPU Period has already been set")
        assert limits(berthd, name)["quota"] == 25_000
    finally:
        c.remove(force=True)


@needs_v1
def test_update_bad_values_change_nothing(berthd, busybox, uniq):
    name = f"updbad-{uniq}"
    berthd.docker("run", "-d", "--name", name, "--cpus", "0.5", busybox, "sleep", "600").check()
    try:
        cid = inspect(berthd, name)["Id"]
        before_hc, before_lim = inspect(berthd, name)["HostConfig"], limits(berthd, name)
        cases = [
            ({"Memory": 1000}, 400, "Minimum memory limit allowed is 6MB"),
            ({"MemoryReservation": 4_000_000}, 400, "Minimum memory reservation allowed is 6MB"),
            ({"Memory": 100 * MIB, "MemorySwap": 50 * MIB}, 400,
             "Minimum memoryswap limit should be larger than memory limit, see usage"),
            ({"Memory": 100 * MIB, "MemorySwap": 200 * MIB, "MemoryReservation": 150 * MIB}, 400,
             "Minimum memory limit can not be less than memory reservation limit, see usage"),
            ({"CpusetCpus": "0-63"}, 400, "Requested CPUs are not available - requested 0-63"),
            ({"CpuPeriod": 10}, 400, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1"),
            ({"NanoCpus": 64_000_000_000}, 400, "Range of CPUs is from 0.01 to "),
            ({"CpuQuota": 50_000}, 409,
             f"Cannot update container {cid}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"),
            ({"Memory": 100 * MIB}, 409,
             f"Cannot update container {cid}: Memory limit should be smaller than already set memoryswap limit, "
             "update the memoryswap at the same time"),
        ]
        for body, status, msg in cases:
            r = berthd.api("POST", f"/containers/{name}/update", body)
            assert r.status == status, (body, r)
            assert r.json()["message"].startswith(msg), (body, r)
        r = berthd.api("POST", f"/containers/{name}/update", {"RestartPolicy": {"Name": "bogus"}})
        assert r.status == 400 and "bogus" in r.json()["message"], r
        # The kernel refuses memory+swap below the memory limit: 500, and the stored config is put back.
        berthd.docker("update", "-m", "64m", "--memory-swap", "128m", name).check()
        mid_hc, mid_lim = inspect(berthd, name)["HostConfig"], limits(berthd, name)
        r = berthd.api("POST", f"/containers/{name}/update", {"MemorySwap": 32 * MIB})
        assert r.status == 500 and r.json()["message"].startswith(f"Cannot update container {cid}: "), r
        assert "memory.memsw.limit_in_bytes" in r.json()["message"]
        assert inspect(berthd, name)["HostConfig"] == mid_hc and limits(berthd, name) == mid_lim
        before_hc.update({"Memory": 64 * MIB, "MemorySwap": 128 * MIB})
        assert mid_hc == before_hc and mid_lim == dict(before_lim, memory=64 * MIB, memsw=128 * MIB)
        r = berthd.api("POST", f"/containers/nope-{uniq}/update", {"Memory": 100 * MIB})
        assert r.status == 404 and r.json()["message"] == f"No such container: nope-{uniq}"
        r = berthd.api("POST", f"/containers/{name}/update", b"")
        assert r.status in (400, 500)
        r = berthd.docker("update", name)
        assert r.rc != 0 and "you must provide one or more flags when using this command" in r.err
        r = berthd.docker("update", "-m", "3m", name, f"nope-{uniq}")
        assert r.rc == 1 and "Minimum memory limit allowed is 6MB" in r.err and r.out == ""
    finally:
        berthd.docker("rm", "-f", name)


@needs_v1
def test_update_stopped_container_applies_at_start(berthd, busybox, uniq):
    name = f"updstop-{uniq}"
    berthd.docker("create", "--name", name, busybox, "sleep", "600").check()
    try:
        berthd.berth("update", "-m", "48m", "--memory-swap", "96m", "--pids-limit", "30", "--cpu-quota", "20000",
                     name).check()
        hc = inspect(berthd, name)["HostConfig"]
        assert (hc["Memory"], hc["MemorySwap"], hc["PidsLimit"], hc["CpuQuota"]) == (48 * MIB, 96 * MIB, 30, 20_000)
        berthd.docker("start", name).check()
        lim = limits(berthd, name)
        assert (lim["memory"], lim["memsw"], lim["pids"], lim["quota"]) == (48 * MIB, 96 * MIB, "30", 20_000)
        r = berthd.docker("update", "--restart", "always", "--rm", name)
        assert r.rc != 0  # no such flag
    finally:
        berthd.docker("rm", "-f", name)


def test_update_autoremove_restart_conflict_and_event(berthd, busybox, uniq):
    name = f"updrm-{uniq}"
    since = time.time()
    berthd.docker("run", "-d", "--rm", "--name", name, busybox, "sleep", "600").check()
    try:
        r = berthd.docker("update", "--restart", "always", name)
        assert r.rc == 1 and "Restart policy cannot be updated because AutoRemove is enabled for the container" in r.err
        berthd.docker("update", "--cpu-shares", "100", name).check()
        evs = events(berthd, since, {"container": [name], "event": ["update"]})
        assert len(evs) == 1 and evs[0]["Actor"]["Attributes"]["name"] == name, evs
    finally:
        berthd.docker("rm", "-f", name)


# ---------------------------------------------------------------- healthchecks
def events(d, since: float, filters: dict) -> list[dict]:
    """The daemon's events from `since` until now for `filters` (a bounded /events request)."""
    until = time.time() + 0.2
    r = d.api("GET", f"/events?since={since:.9f}&until={until:.9f}&filters={quote(json.dumps(filters))}")
    assert r.status == 200, r
    return [json.loads(l) for l in r.text.splitlines() if l.strip()]


def health(d, name) -> dict | None:
    return inspect(d, name)["State"].get("Health")


def ps_status(d, name, cli="docker") -> str:
    return d.cli(cli, "ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}").check().out.strip()


def test_healthcheck_transitions_events_and_ps(berthd, busybox, uniq):
    name = f"hc-{uniq}"
    since = time.time()
    berthd.docker("run", "-d", "--name", name, "--health-cmd", "echo probe; test -e /tmp/ok",
                  "--health-interval", "250ms", "--health-retries", "2", busybox, "sleep", "600").check()
    try:
        assert health(berthd, name)["Status"] == "starting"
        assert ps_status(berthd, name).endswith("(health: starting)")
        hc = inspect(berthd, name)["Config"]["Healthcheck"]
        assert hc == {"Test": ["CMD-SHELL", "echo probe; test -e /tmp/ok"], "Interval": 250_000_000, "Retries": 2}
        h = wait_for(lambda: (x := health(berthd, name)) and x["Status"] == "unhealthy" and x, 15, 0.1, what="unhealthy")
        assert h["FailingStreak"] >= 2
        assert all(l["ExitCode"] == 1 and l["Output"] == "probe\n" for l in h["Log"])
        assert ps_status(berthd, name).endswith("(unhealthy)")
        assert berthd.docker("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").check().out.split() == [name]
        berthd.docker("exec", name, "touch", "/tmp/ok").check()
        h = wait_for(lambda: (x := health(berthd, name)) and x["Status"] == "healthy" and x, 15, 0.1, what="healthy")
        assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0
        wait_for(lambda: len(health(berthd, name)["Log"]) == 5, 15, 0.1, what="5 log entries")
        time.sleep(0.6)
        assert len(health(berthd, name)["Log"]) == 5  # only the last 5 are kept
        assert ps_status(berthd, name).endswith("(healthy)")
        assert ps_status(berthd, name, "berth").endswith("(healthy)")
        assert name in berthd.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}}").check().out.split()
        assert name not in berthd.docker("ps", "--filter", "health=none", "--format", "{{.Names}}").check().out.split()
        r = berthd.api("GET", "/containers/json?filters=" + quote(json.dumps({"health": ["bogus"]})))
        assert r.status == 400 and r.json()["message"] == "Unrecognised filter value for health: bogus"
        evs = events(berthd, since, {"container": [name]})
        actions = [e["Action"] for e in evs]
        statuses = [a for a in actions if a.startswith("health_status")]
        assert statuses[:2] == ["health_status: unhealthy", "health_status: healthy"], actions
        probe = "/bin/sh -c echo probe; test -e /tmp/ok"
        for a in ("exec_create: " + probe, "exec_start: " + probe, "exec_die"):
            assert a in actions, actions
        die = next(e for e in evs if e["Action"] == "exec_die")
        assert die["Actor"]["Attributes"]["exitCode"] == "1" and die["Actor"]["Attributes"]["execID"]
        # Stopping ends the probes; the status is left "unhealthy" (dockerd's compatibility rule).
        berthd.docker("stop", "-t", "0", name).check()
        h = health(berthd, name)
        assert h["Status"] == "unhealthy"
        n = len(events(berthd, since, {"container": [name], "event": ["exec_start"]}))
        time.sleep(0.8)
        assert len(events(berthd, since, {"container": [name], "event": ["exec_start"]})) == n
        assert ps_status(berthd, name).startswith("Exited (137)")
    finally:
        berthd.docker("rm", "-f", name)


def test_healthcheck_from_image_and_no_healthcheck(berthd, health_image, uniq):
    a, b = f"hcimg-{uniq}", f"hcnone-{uniq}"
    since = time.time()
    berthd.docker("run", "-d", "--name", a, health_image, "sh", "-c", "touch /tmp/ok; exec sleep 600").check()
    berthd.docker("run", "-d", "--name", b, "--no-healthcheck", health_image, "sh", "-c", "touch /tmp/ok; exec sleep 600").check()
    try:
        assert inspect(berthd, a)["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "test -e /tmp/ok"],
                                                               "Interval": 200_000_000, "Retries": 2}
        wait_for(lambda: health(berthd, a)["Status"] == "healthy", 15, 0.1, what="image healthcheck healthy")
        # As dockerd: NONE is the user's Test, the image fills in the rest.
        assert inspect(berthd, b)["Config"]["Healthcheck"] == {"Test": ["NONE"], "Interval": 200_000_000, "Retries": 2}
        assert health(berthd, b) is None
        assert not ps_status(berthd, b).endswith(")")
        assert b in berthd.docker("ps", "--filter", "health=none", "--format", "{{.Names}}").check().out.split()
        assert events(berthd, since, {"container": [b], "event": ["exec_create", "exec_start"]}) == []
        # The user's values replace the image's one by one.
        c = f"hcmix-{uniq}"
        berthd.docker("create", "--name", c, "--health-retries", "7", health_image).check()
        assert inspect(berthd, c)["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "test -e /tmp/ok"],
                                                               "Interval": 200_000_000, "Retries": 7}
        berthd.docker("rm", c).check()
    finally:
        berthd.docker("rm", "-f", a, b)


def test_healthcheck_timeout_and_start_period(berthd, busybox, uniq):
    name, sp = f"hcto-{uniq}", f"hcsp-{uniq}"
    berthd.docker("run", "-d", "--name", name, "--health-cmd", "sleep 5", "--health-interval", "300ms",
                  "--health-timeout", "200ms", "--health-retries", "1", busybox, "sleep", "600").check()
    # Failures inside the start period do not count while starting. (The start interval, API 1.44,
    # defaults to 5 s; dockerd 20.10 has none and probes at the interval.)
    start_interval = ["--health-start-interval", "200ms"] if berthd.kind == "berthd" else []
    berthd.docker("run", "-d", "--name", sp, "--health-cmd", "false", "--health-interval", "200ms",
                  "--health-retries", "1", "--health-start-period", "30s", *start_interval, busybox, "sleep", "600").check()
    try:
        h = wait_for(lambda: (x := health(berthd, name)) and x["Status"] == "unhealthy" and x, 15, 0.1, what="timeout")
        first = h["Log"][0]
        assert first["ExitCode"] == -1 and first["Output"].startswith("Health check exceeded timeout (200ms)"), first
        t0 = time.time()
        wait_for(lambda: len(health(berthd, sp)["Log"]) >= 3, 15, 0.1, what="3 probes")
        h = health(berthd, sp)
        assert h["Status"] == "starting" and h["FailingStreak"] == 0 and all(l["ExitCode"] == 1 for l in h["Log"]), h
        assert time.time() - t0 < 10
        # The timed-out probes were killed (as Docker 28 does; dockerd 20.10 left them running): at
        # most the current one is running, none piled up.
        if berthd.kind == "berthd":
            top = berthd.docker("top", name).check().out
            assert top.count("sleep 5") <= 1, top
    finally:
        berthd.docker("rm", "-f", name, sp)


def test_healthcheck_validation(berthd, busybox, uniq):
    for hc, msg in [({"Test": ["CMD", "true"], "Interval": 1000}, "Interval in Healthcheck cannot be less than 1ms"),
                    ({"Test": ["CMD", "true"], "Retries": -1}, "Retries in Healthcheck cannot be negative")]:
        r = berthd.api("POST", f"/containers/create?name=hcbad-{uniq}", {"Image": busybox, "Healthcheck": hc})
        assert r.status == 400 and msg in r.json()["message"], r
        assert berthd.api("GET", f"/containers/hcbad-{uniq}/json").status == 404
    r = berthd.docker("run", "--no-healthcheck", "--health-cmd", "true", busybox, "true")
    assert r.rc != 0 and "--no-healthcheck conflicts with --health-* options" in r.err


def test_healthcheck_resumes_after_daemon_restart(daemon_factory, pushed, uniq):
    d = daemon_factory()
    if d.kind != "berthd":
        pytest.skip("dockerd without live-restore stops its containers on shutdown")
    ref = pushed.ref("it/busybox")
    d.docker("pull", "-q", ref).check()
    d.docker("run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ok", "--health-interval", "200ms",
             "--health-retries", "1", ref, "sh", "-c", "touch /tmp/ok; exec sleep 600").check()
    try:
        wait_for(lambda: health(d, "hc")["Status"] == "healthy", 15, 0.1, what="healthy before restart")
        d.stop()
        d.start()
        assert health(d, "hc")["Status"] == "healthy"
        n = len(health(d, "hc")["Log"])
        d.docker("exec", "hc", "rm", "/tmp/ok").check()
        h = wait_for(lambda: (x := health(d, "hc")) and x["Status"] == "unhealthy" and x, 15, 0.1, what="unhealthy after restart")
        assert h["Log"][-1]["ExitCode"] == 1 and n >= 1
    finally:
        d.docker("rm", "-f", "hc")


# ---------------------------------------------------------------- stats
ROW = re.compile(r"^(?P<id>[0-9a-f]{12})\s+(?P<name>\S+)\s+(?P<cpu>\d+\.\d\d%)\s+(?P<mem>[\d.]+[KMG]?i?B) / (?P<lim>[\d.]+[KMG]iB)"
                 r"\s+(?P<memp>\d+\.\d\d%)\s+(?P<net>\S+ / \S+)\s+(?P<blk>\S+ / \S+)\s+(?P<pids>\d+)$")
HEADER = "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"


def test_stats_no_stream_and_stream(berthd, busybox, uniq):
    a, b = f"st1-{uniq}", f"st2-{uniq}"
    berthd.docker("run", "-d", "--name", a, "-m", "64m", busybox, "sleep", "600").check()
    berthd.docker("run", "-d", "--name", b, busybox, "sh", "-c", "while :; do :; done").check()
    try:
        for cli in ("docker", "berth"):
            t0 = time.time()
            r = berthd.cli(cli, "stats", "--no-stream", a, b).check()
            assert time.time() - t0 < 10
            lines = r.out.splitlines()
            assert lines[0].split() == HEADER.split(), r.out
            assert len(lines) == 3, r.out
            rows = {m["name"]: m for m in (ROW.match(l) for l in lines[1:]) if m}
            assert set(rows) == {a, b}, r.out
            assert rows[a]["lim"] == "64MiB" and rows[a]["pids"] == "1", r.out
            assert float(rows[b]["cpu"][:-1]) > 5, r.out
        # Without names: every running container, one row each.
        running = berthd.docker("ps", "-q").check().out.split()
        r = berthd.docker("stats", "--no-stream").check()
        ids = [l.split()[0] for l in r.out.splitlines()[1:]]
        assert sorted(ids) == sorted(running), r.out
        # Streaming: keeps redrawing until killed.
        p = subprocess.Popen([DOCKER_CLI, "stats", a], env={**os.environ, **berthd.env}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        time.sleep(3)
        p.kill()
        out, err = p.communicate(timeout=10)
        text = out.decode(errors="replace")
        assert text.count(a) >= 2 and "error" not in (text + err.decode()).lower(), (text, err)
        # docker-py
        c = berthd.client.containers.get(b)
        s = c.stats(stream=False)
        assert s["name"] == "/" + b and s["precpu_stats"]["cpu_usage"]["total_usage"] > 0
        assert s["cpu_stats"]["cpu_usage"]["total_usage"] > s["precpu_stats"]["cpu_usage"]["total_usage"]
        assert isinstance(s["memory_stats"]["usage"], int) and s["pids_stats"]["current"] == 1
        assert all(isinstance(v, int) for v in s["memory_stats"].get("stats", {}).values())
        s = c.stats(stream=False, one_shot=True)
        assert s["id"] == c.id
        gen = c.stats(stream=True, decode=True)
        first, second = next(gen), next(gen)
        assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
        gen.close()
    finally:
        berthd.docker("rm", "-f", a, b)


# ---------------------------------------------------------------- json-file attrs
def test_log_opts_attrs_and_details(berthd, busybox, uniq):
    name = f"attrs-{uniq}"
    berthd.docker("run", "--name", name, "-l", "com.x=1", "-l", "y=a<b c", "-e", "FOO=bar", "--log-opt", "labels=com.x,y,nope",
                  "--log-opt", "env=FOO", "--log-opt", "tag={{.Name}}", busybox, "sh", "-c", "echo hi; echo err >&2").check()
    plain = f"attrs0-{uniq}"
    berthd.docker("run", "--name", plain, busybox, "echo", "plain").check()
    try:
        lines = sorted(Path(inspect(berthd, name)["LogPath"]).read_text().splitlines(), key=lambda l: '"stderr"' in l)
        assert len(lines) == 2
        # moby's field order and json.Marshal of the attrs map (sorted keys, HTML-safe escapes)
        assert re.fullmatch(r'\{"log":"hi\\n","stream":"stdout","attrs":\{"FOO":"bar","com.x":"1",'
                            rf'"tag":"{name}","y":"a\\u003cb c"\}},"time":"[0-9T:.-]+Z"\}}', lines[0]), lines[0]
        entries = [json.loads(l) for l in lines]
        assert [e["stream"] for e in entries] == ["stdout", "stderr"]
        r = berthd.docker("logs", "--details", name).check()
        assert r.out == f"FOO=bar,com.x=1,tag={name},y=a%3Cb+c hi\n" and r.err == f"FOO=bar,com.x=1,tag={name},y=a%3Cb+c err\n"
        assert berthd.berth("logs", "--details", name).check().out == r.out
        assert berthd.docker("logs", "--details", plain).check().out == " plain\n"
        assert '"attrs"' not in Path(inspect(berthd, plain)["LogPath"]).read_text()
        assert berthd.docker("logs", name).check().out == "hi\n"
    finally:
        berthd.docker("rm", "-f", name, plain)


@needs_v1
def test_update_and_healthcheck_with_real_runc(runc_daemon, pushed, uniq):
    """The same paths through `runc update -r FILE` and runc exec (`--add-runtime`)."""
    d = runc_daemon
    ref = pushed.ref("it/busybox")
    d.docker("run", "-d", "--name", "rr", "--runtime", "realrunc", "--health-cmd", "true", "--health-interval", "200ms",
             ref, "sleep", "600").check()
    try:
        d.docker("update", "-m", "80m", "--memory-swap", "160m", "--pids-limit", "40", "--cpu-shares", "300", "rr").check()
        lim = limits(d, "rr")
        assert (lim["memory"], lim["memsw"], lim["pids"], lim["shares"]) == (80 * MIB, 160 * MIB, "40", 300)
        r = d.api("POST", "/containers/rr/update", {"MemorySwap": 10 * MIB})
        assert r.status == 500 and "Cannot update container" in r.json()["message"], r
        assert limits(d, "rr") == lim and inspect(d, "rr")["HostConfig"]["MemorySwap"] == 160 * MIB
        wait_for(lambda: health(d, "rr")["Status"] == "healthy", 15, 0.1, what="healthy with runc")
    finally:
        d.docker("rm", "-f", "rr")
