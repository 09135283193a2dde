"""The berth CLI prints what the docker CLI prints (same daemon, same command), with the same exit code.

Only commands whose Docker output is deterministic are compared (no relative times)."""
from __future__ import annotations

import pytest

from helpers import images as I


@pytest.fixture(scope="module")
def cmp_setup(berthd, reg_http):
    import uuid
    u = uuid.uuid4().hex[:8]
    im = I.fancy_image(labels={"cmp": u})
    repo = f"cmp/{u}"
    reg_http.push_image(repo, im, ["latest", "v2"])
    berthd.docker("pull", "-q", reg_http.ref(repo)).check()
    berthd.docker("pull", "-q", reg_http.ref(repo, "v2")).check()
    berthd.docker("tag", reg_http.ref(repo), f"local/cmp-{u}:x").check()
    return {"ref": reg_http.ref(repo), "repo": f"{reg_http.host}/{repo}", "local": f"local/cmp-{u}", "im": im}


COMMANDS = [
    ("images-repotag", ["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference={repo}"]),
    ("images-repotag-sorted", ["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}", "--filter", "reference={repo}:*"]),
    ("images-q", ["images", "-q", "--filter", "reference={repo}"]),
    ("images-q-notrunc", ["images", "-q", "--no-trunc", "--filter", "reference={local}"]),
    ("images-digests", ["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", "--filter", "reference={repo}"]),
    ("images-table-id", ["images", "--format", "table {{.ID}}\t{{.Tag}}", "--filter", "reference={repo}"]),
    ("images-positional", ["images", "--format", "{{.Tag}}", "{local}"]),
    ("inspect-f", ["inspect", "-f", "{{.Id}} {{.RepoTags}} {{.Config.Cmd}} {{.Architecture}} {{.Os}}", "{ref}"]),
    ("inspect-json-rootfs", ["image", "inspect", "--format", "{{json .RootFS}}", "{ref}"]),
    ("inspect-json-config", ["image", "inspect", "--format", "{{json .Config.Env}} {{json .Config.Labels}}", "{ref}"]),
    ("inspect-digests", ["image", "inspect", "-f", "{{.RepoDigests}}", "{ref}"]),
    ("history-createdby", ["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "{ref}"]),
    ("history-q", ["history", "-q", "{ref}"]),
    ("version-api", ["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}} {{.Server.Arch}}"]),
    ("info-os", ["info", "--format", "{{.OSType}} {{.Architecture}} {{.DockerRootDir}}"]),
    ("rmi-unknown", ["rmi", "x"]),
    ("rmi-unknown-tag", ["rmi", "nosuch/image:tag"]),
    ("tag-unknown", ["tag", "nosuch:img", "local/whatever"]),
    ("inspect-unknown", ["image", "inspect", "nosuchimage"]),
    ("pull-upper", ["pull", "UPPER"]),
    ("pull-bad-ref", ["pull", "a b"]),
    ("pull-bad-digest", ["pull", "busybox@sha256:abc"]),
    ("images-bad-filter", ["images", "--filter", "nonsense=1"]),
    ("history-unknown", ["history", "nosuch:img"]),
]


@pytest.mark.parametrize("name,args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_berth_cli_matches_docker_cli(berthd, cmp_setup, name, args):
    args = [a.format(**cmp_setup) for a in args]
    d = berthd.docker(*args)
    b = berthd.berth(*args)
    assert b.rc == d.rc, f"exit codes differ\n--- docker\n{d}\n--- berth\n{b}"
    assert b.out == d.out, f"stdout differs\n--- docker\n{d.out}\n--- berth\n{b.out}"
    assert b.err.strip() == d.err.strip(), f"stderr differs\n--- docker\n{d.err}\n--- berth\n{b.err}"


def test_berth_cli_tag_rmi_sequence_matches(berthd, cmp_setup):
    """Same mutations through both CLIs give the same outputs."""
    import uuid
    outs = {}
    for client in ("docker", "berth"):
        t = f"local/seq-{uuid.uuid4().hex[:6]}"
        r1 = berthd.cli(client, "tag", cmp_setup["ref"], f"{t}:a")
        r2 = berthd.cli(client, "rmi", f"{t}:a")
        r3 = berthd.cli(client, "rmi", f"{t}:a")
        outs[client] = [(r.rc, r.out.replace(t, "T"), r.err.strip().replace(t, "T")) for r in (r1, r2, r3)]
    assert outs["berth"] == outs["docker"]
