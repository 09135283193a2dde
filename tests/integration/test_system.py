"""version, info, /_ping and API version prefixes (Docker Engine API 1.24-1.50)."""
from __future__ import annotations

import json
import re

import pytest

from helpers.daemon import DAEMON_KIND


def _versions(d):
    v = d.api("GET", "/version").json()
    return v["ApiVersion"], v.get("MinAPIVersion", "1.24")


def test_version_endpoint_shape(berthd):
    r = berthd.api("GET", "/version")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    v = r.json()
    for k in ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch", "KernelVersion", "GoVersion", "GitCommit"):
        assert k in v, k
    assert v["Os"] == "linux" and v["Arch"] == "amd64"
    if DAEMON_KIND == "berthd":
        assert v["ApiVersion"] == "1.50" and v["MinAPIVersion"] == "1.24"


def test_docker_cli_version_and_info(berthd):
    r = berthd.docker("version")
    assert r.rc == 0, r
    assert "Server:" in r.out
    api = berthd.docker("version", "--format", "{{.Server.APIVersion}}").check().out.strip()
    assert re.fullmatch(r"1\.\d\d", api), api
    if DAEMON_KIND == "berthd":
        assert api == "1.50"
    r = berthd.docker("info")
    assert r.rc == 0, r
    assert "Server Version:" in r.out
    j = json.loads(berthd.docker("info", "--format", "{{json .}}").check().out)
    assert j["OSType"] == "linux" and j["Architecture"] == "x86_64"
    assert isinstance(j["Images"], int) and j["ServerErrors"] is None if "ServerErrors" in j else True


def test_berth_cli_version_and_info(berthd):
    r = berthd.berth("version")
    assert r.rc == 0, r
    assert berthd.berth("version", "--format", "{{.Server.APIVersion}}").check().out.strip() == \
        berthd.docker("version", "--format", "{{.Server.APIVersion}}").check().out.strip()
    assert berthd.berth("info").rc == 0
    assert berthd.berth("info", "--format", "{{.OSType}}").check().out.strip() == "linux"


def test_dockerpy_version_and_info(berthd):
    c = berthd.client
    v = c.version()
    assert v["Os"] == "linux" and "ApiVersion" in v
    assert "Components" in v and any(comp["Name"] == "Engine" for comp in v["Components"])
    info = c.info()
    assert info["OSType"] == "linux"
    for k in ("ID", "Containers", "Images", "Driver", "DockerRootDir", "NCPU", "MemTotal", "KernelVersion",
              "OperatingSystem", "ServerVersion", "Name"):
        assert k in info, k
    assert info["DockerRootDir"] == str(berthd.data_root)
    assert c.ping() is True


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_ping_headers(berthd, method):
    r = berthd.api(method, "/_ping")
    assert r.status == 200
    h = r.headers
    assert h["API-Version"] == _versions(berthd)[0]
    assert h["OSType"] == "linux"
    assert h["Docker-Experimental"] in ("false", "true")
    if DAEMON_KIND == "berthd":
        assert h["Builder-Version"] in ("1", "2")
    assert h["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert h["Pragma"] == "no-cache"
    if method == "GET":
        assert r.body == b"OK"
    else:
        assert r.body == b""


def test_versioned_prefixes(berthd):
    api, minv = _versions(berthd)
    for v in sorted({minv, "1.24", api}):
        r = berthd.api("GET", f"/v{v}/version")
        assert r.status == 200, (v, r)
        assert berthd.api("GET", f"/v{v}/_ping").status == 200
    assert berthd.api("GET", "/v1.24/images/json").status == 200
    assert berthd.api("GET", f"/v{api}/images/json").status == 200


def test_too_old_and_too_new_api_version(berthd):
    api, minv = _versions(berthd)
    major, minor = minv.split(".")
    old = f"{major}.{int(minor) - 1}"
    r = berthd.api("GET", f"/v{old}/version")
    assert r.status == 400, r
    if DAEMON_KIND == "berthd":  # Docker 20.10 answered this one in text/plain
        assert r.headers["Content-Type"].startswith("application/json")
    msg = r.json()["message"] if r.headers["Content-Type"].startswith("application/json") else r.text.strip()
    assert msg == (f"client version {old} is too old. Minimum supported API version is {minv}, "
                                   f"please upgrade your client to a newer version")
    r = berthd.api("GET", "/v1.99/version")
    assert r.status == 400, r
    assert r.json()["message"] == f"client version 1.99 is too new. Maximum supported API version is {api}"


def test_unknown_route_is_404_json(berthd):
    r = berthd.api("GET", "/v1.50/no/such/route")
    assert r.status == 404
    assert r.json()["message"] == "page not found"
