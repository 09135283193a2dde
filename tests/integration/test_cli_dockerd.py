"""The berth CLI against a real Docker daemon (Debian's dockerd 20.10, API 1.41).

The CLI sends its first requests as /v1.50 without pinging first (one round trip less per
command); an older daemon answers 400 "client version 1.50 is too new. Maximum supported API
version is 1.41" and the CLI sends the request again with 1.41, as the docker CLI's negotiation
would have chosen. These tests run whole commands (create + attach + wait + start, streams, errors)
through that path and compare with what the docker CLI 28 prints against the same daemon.
"""
from __future__ import annotations

import pytest

from helpers.daemon import BERTH, Daemon
from helpers.util import run


@pytest.fixture(scope="module")
def dockerd(reg_http, pushed):
    d = Daemon(insecure=[reg_http.host], kind="dockerd")
    try:
        d.start(timeout=60)
        d.docker("pull", "-q", pushed.ref("it/busybox")).check()
        yield d
    finally:
        d.cleanup()


def berth(d, *args, **kw):
    """The berth binary itself (Daemon.berth runs the docker CLI for a dockerd)."""
    return run([BERTH, *args], env=d.env, **kw)


def test_version_negotiates_down_to_the_daemons_api(dockerd):
    fmt = "{{.Client.APIVersion}} {{.Server.APIVersion}}"
    d = dockerd.docker("version", "--format", fmt)
    b = berth(dockerd, "version", "--format", fmt)
    assert b.rc == 0, b
    assert b.out == d.out
    assert b.out.split()[0] == "1.41"


def test_run_rm_against_dockerd(dockerd, pushed):
    r = berth(dockerd, "run", "--rm", "--network", "none", pushed.ref("it/busybox"), "sh", "-c",
              "echo out; echo err >&2; exit 3")
    assert r.rc == 3, r
    assert r.out == "out\n"
    assert r.err == "err\n"
    assert dockerd.docker("ps", "-aq").out == ""


def test_detached_container_listed_and_removed(dockerd, pushed, uniq):
    name = f"cli-dockerd-{uniq}"
    r = berth(dockerd, "run", "-d", "--name", name, "--network", "none", pushed.ref("it/busybox"), "sleep", "60")
    assert r.rc == 0, r
    cid = r.out.strip()
    assert len(cid) == 64
    ps = berth(dockerd, "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}")
    assert f"{cid} {name}\n" in ps.out
    assert berth(dockerd, "inspect", "-f", "{{.State.Running}}", name).out == "true\n"
    rm = berth(dockerd, "rm", "-f", name)
    assert rm.rc == 0 and rm.out == name + "\n", rm
    assert dockerd.docker("ps", "-aq").out == ""


def test_pull_stream_against_dockerd(dockerd, pushed):
    ref = pushed.ref("it/busybox", "1.0")
    b = berth(dockerd, "pull", "-q", ref)
    assert b.rc == 0, b
    assert b.out == ref + "\n"


@pytest.mark.parametrize("args", [["rm", "nosuch-container"], ["inspect", "nosuch-container"],
                                  ["start", "nosuch-container"]])
def test_errors_match_docker_cli(dockerd, args):
    d = dockerd.docker(*args)
    b = berth(dockerd, *args)
    assert b.rc == d.rc, (d, b)
    assert b.err.replace("berth:", "docker:") == d.err, (d, b)
