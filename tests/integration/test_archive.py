"""Container file copy and export end to end: `docker cp` (CLI 28) and `berth cp` both ways, docker-py's
put_archive/get_archive/export, the raw archive API (HEAD stat header, errors), hostile tars, running,
created and exited containers, bind mounts, read-only rootfs, `docker/berth export`.

Runs against dockerd too (BERTH_IT_DAEMON=dockerd); the few berth-only expectations say so (dockerd
20.10 predates moby's in-namespace copy: it looks `-a` users up on the host, answers 500 where Docker
28 answers 400, and leaves a half-extracted archive behind)."""
import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from helpers.daemon import BERTH, DAEMON_KIND, DOCKER_CLI
from helpers.util import mounts_under

CLIS = ["docker", "berth"]
BERTH_ONLY = DAEMON_KIND == "berthd"


@pytest.fixture
def ctr(berthd, busybox, uniq):
    """A running container (removed afterwards)."""
    name = f"cp-{uniq}"
    berthd.docker("run", "-d", "--name", name, busybox, "sleep", "600").check()
    yield name
    berthd.docker("rm", "-f", name)


def local_tree(root: Path) -> dict:
    """path -> (type, mode, size, link target, content) for everything below `root`."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("l", 0o777, 0, os.readlink(p), None)
            elif p.is_dir():
                out[rel] = ("d", st.st_mode & 0o7777, 0, "", None)
            else:
                out[rel] = ("f", st.st_mode & 0o7777, st.st_size, "", p.read_bytes())
    return out


def ctr_tree(berthd, name: str, path: str) -> list[str]:
    """`find PATH` with type/mode/owner/size/target, from inside the running container."""
    r = berthd.docker("exec", name, "sh", "-c",
                      f"find {path} | sort | while read f; do stat -c '%n|%F|%a|%u|%g|%s' \"$f\"; "
                      f"[ -L \"$f\" ] && readlink \"$f\"; done; true")
    return r.check().lines()


def make_src(d: Path) -> Path:
    src = d / "src"
    (src / "dir" / "sub").mkdir(parents=True)
    (src / "f.txt").write_text("hello\n")
    (src / "exec.sh").write_text("#!/bin/sh\n")
    (src / "exec.sh").chmod(0o750)
    (src / "dir" / "a").write_text("a\n")
    (src / "dir" / "sub" / "b").write_bytes(os.urandom(70000))
    os.link(src / "dir" / "a", src / "dir" / "a-hard")
    (src / "link").symlink_to("f.txt")
    (src / "dir" / "up").symlink_to("../f.txt")
    for p in [src, *src.rglob("*")]:
        os.lchown(p, 1234, 5678)
    return src


def tar_bytes(entries) -> bytes:
    """entries: (name, kind, payload) with kind f(ile) d(ir) l(symlink) h(ardlink)."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            if kind == "f":
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[kind]
            if kind == "d":
                ti.mode = 0o755
            else:
                ti.linkname = payload
            t.addfile(ti)
    return b.getvalue()


def stat_header(resp) -> dict:
    return json.loads(base64.b64decode(resp.headers["X-Docker-Container-Path-Stat"]))


def archive_url(name: str, path: str, **q) -> str:
    extra = "".join(f"&{k}={v}" for k, v in q.items())
    return f"/containers/{name}/archive?path={quote(path)}{extra}"


def cli_bin(which: str) -> str:
    return DOCKER_CLI if which == "docker" or DAEMON_KIND != "berthd" else BERTH


# ---------------------------------------------------------------------------- copy into a container
@pytest.mark.parametrize("cli", CLIS)
def test_cp_to_container(berthd, busybox, uniq, tmp_dir, cli):
    """Files, directories (with `/.`), symlinks, `-L`, renames; owners come from the local files."""
    src = make_src(tmp_dir)
    names = {c: f"cpin-{c}-{uniq}" for c in CLIS}
    trees = {}
    try:
        for c, name in names.items():
            berthd.docker("run", "-d", "--name", name, busybox, "sleep", "600").check()
            berthd.docker("exec", name, "mkdir", "/dst").check()
            for args in ([f"{src}/f.txt", f"{name}:/dst/"], [f"{src}/f.txt", f"{name}:/dst/renamed"],
                         [f"{src}/dir", f"{name}:/dst/"], [f"{src}/dir", f"{name}:/dst/newdir"],
                         [f"{src}/dir/.", f"{name}:/dst/contents"], [f"{src}/link", f"{name}:/dst/"],
                         ["-L", f"{src}/link", f"{name}:/dst/followed"], [f"{src}/exec.sh", f"{name}:/dst"]):
                r = berthd.cli(c, "cp", *args)
                assert r.rc == 0 and r.out == "" and r.err == "", (c, args, r)
            trees[c] = ctr_tree(berthd, name, "/dst")
        tree = trees[cli]
        assert "/dst/f.txt|regular file|644|1234|5678|6" in tree
        assert "/dst/renamed|regular file|644|1234|5678|6" in tree
        assert "/dst/exec.sh|regular file|750|1234|5678|10" in tree
        assert "/dst/dir/sub/b|regular file|644|1234|5678|70000" in tree
        assert "/dst/newdir/a|regular file|644|1234|5678|2" in tree
        assert any(l.startswith("/dst/contents/sub|directory|755|1234|5678|") for l in tree)
        assert "/dst/link|symbolic link|777|1234|5678|5" in tree and "f.txt" in tree
        assert "/dst/followed|regular file|644|1234|5678|6" in tree
        assert "/dst/dir/up|symbolic link|777|1234|5678|8" in tree
        # the hard link pair stays one inode
        inodes = berthd.docker("exec", names[cli], "stat", "-c", "%i", "/dst/dir/a", "/dst/dir/a-hard").check().lines()
        assert inodes[0] == inodes[1]
        assert trees["berth"] == trees["docker"]
    finally:
        for name in names.values():
            berthd.docker("rm", "-f", name)


@pytest.mark.parametrize("cli", CLIS)
def test_cp_from_container(berthd, ctr, tmp_dir, cli):
    """Out of a container: dirs (into an existing dir, as a new name, `/.` contents), files, symlinks
    kept or followed (`-L`), into a file's place; the same tree as the docker CLI makes."""
    berthd.docker("exec", ctr, "sh", "-c",
                  "mkdir -p /s/d/e && echo hi > /s/d/f && chmod 600 /s/d/f && echo x > /s/d/e/g && "
                  "ln -s f /s/d/l && ln -s /s/d /s/dl").check()
    results = {}
    for c in CLIS:
        out = tmp_dir / c
        (out / "existing").mkdir(parents=True)
        (out / "file").write_text("old")
        for args in ([f"{ctr}:/s/d", f"{out}/existing"], [f"{ctr}:/s/d", f"{out}/new"],
                     [f"{ctr}:/s/d/.", f"{out}/contents"], [f"{ctr}:/s/d/f", f"{out}/file"],
                     [f"{ctr}:/s/d/l", f"{out}/"], ["-L", f"{ctr}:/s/d/l", f"{out}/lfollowed"],
                     [f"{ctr}:/s/dl", f"{out}/dl"], [f"{ctr}:/s/dl/", f"{out}/dlslash"]):
            r = berthd.cli(c, "cp", *args)
            assert r.rc == 0 and r.out == "" and r.err == "", (c, args, r)
        results[c] = local_tree(out)
    t = results[cli]
    assert t["existing/d/f"][:3] == ("f", 0o600, 3) and t["existing/d/e/g"][4] == b"x\n"
    assert t["new/f"][4] == b"hi\n" and "new/e/g" in t
    assert t["contents/f"][4] == b"hi\n" and "contents/e" in t
    assert t["file"][4] == b"hi\n"
    assert t["l"][0] == "l" and t["l"][3] == "f"
    assert t["lfollowed"][0] == "f" and t["lfollowed"][4] == b"hi\n"
    assert t["dl"][0] == "l" and t["dl"][3] == "/s/d"
    assert t["dlslash"][0] == "d" and t["dlslash/f"][4] == b"hi\n"
    assert results["berth"] == results["docker"]


@pytest.mark.parametrize("cli", CLIS)
def test_cp_tar_streams(berthd, ctr, cli):
    """`cp CTR:PATH -` writes the daemon's tar to stdout; `cp - CTR:DIR` extracts stdin."""
    env = dict(os.environ, **berthd.env)
    p = subprocess.run([cli_bin(cli), "cp", f"{ctr}:/etc/passwd", "-"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        m = t.getmembers()
        assert [x.name for x in m] == ["passwd"] and m[0].size > 0
        assert b"berth:x:1000" in t.extractfile(m[0]).read()
    assert len(p.stdout) == 2048  # one header + one block of data + the end-of-archive blocks
    data = tar_bytes([("in/", "d", None), ("in/x", "f", b"from stdin\n"), ("in/l", "l", "x")])
    p = subprocess.run([cli_bin(cli), "cp", "-", f"{ctr}:/tmp"], env=env, input=data, capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b"", p
    assert berthd.docker("exec", ctr, "cat", "/tmp/in/l").check().out == "from stdin\n"
    assert ctr_tree(berthd, ctr, "/tmp/in")[1] == "/tmp/in/l|symbolic link|777|0|0|1"


@pytest.mark.parametrize("cli", CLIS)
def test_cp_errors_match_docker(berthd, ctr, tmp_dir, cli):
    (tmp_dir / "d").mkdir()
    (tmp_dir / "f").write_text("f")
    berthd.docker("exec", ctr, "sh", "-c", "echo x > /tmp/file && mkdir /tmp/dir").check()
    cases = [
        ([f"{ctr}:/nonexistent", str(tmp_dir / "x")], f"Error response from daemon: Could not find the file /nonexistent in container {ctr}\n"),
        ([f"{ctr}:/nonexistent", "-"], f"Error response from daemon: Could not find the file /nonexistent in container {ctr}\n"),
        (["nosuchctr-x:/etc", "-"], "Error response from daemon: No such container: nosuchctr-x\n"),
        ([str(tmp_dir / "d"), f"{ctr}:/tmp/file"], "cannot copy directory\n"),
        ([str(tmp_dir / "f"), f"{ctr}:/tmp/nodir/"], "no such directory\n"),
        ([f"{ctr}:/tmp/dir", str(tmp_dir / "f")], "cannot copy directory\n"),
        ([f"{ctr}:/etc/passwd", str(tmp_dir / "nodir" / "x")], f'invalid output path: directory "{tmp_dir}/nodir" does not exist\n'),
        (["-", f"{ctr}:/tmp/file"], f'destination "{ctr}:/tmp/file" must be a directory\n'),
        ([f"{ctr}:/a", f"{ctr}:/b"], "copying between containers is not supported\n"),
        ([str(tmp_dir / "f"), str(tmp_dir / "g")], "must specify at least one container source\n"),
        ([str(tmp_dir / "missing"), f"{ctr}:/tmp"], f"lstat {tmp_dir}/missing: no such file or directory\n"),
        ([f"{ctr}:", "-"], "Error response from daemon: bad parameter: pathcannot be empty\n"),
    ]
    for args, err in cases:
        r = berthd.cli(cli, "cp", *args, input="")
        assert r.rc == 1 and r.out == "", (args, r)
        # docker's own logrus noise about its aborted tar writer is not part of the message
        lines = [l for l in r.err.splitlines(keepends=True) if "level=error" not in l]
        assert "".join(lines) == err, (args, r)


@pytest.mark.skipif(shutil.which("script") is None, reason="script(1) not installed")
@pytest.mark.parametrize("cli", CLIS)
def test_cp_summary_on_a_terminal(berthd, ctr, tmp_dir, cli):
    """On a terminal docker prints the size of the tar it moved; `-q` silences it."""
    (tmp_dir / "f").write_text("x" * 100)
    env = dict(os.environ, **berthd.env)
    b = cli_bin(cli)

    def tty(cmd):
        p = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env, capture_output=True, timeout=60)
        return p.returncode, p.stdout.decode().replace("\r\n", "\n")

    assert tty(f"{b} cp {tmp_dir}/f {ctr}:/tmp/f") == (0, f"Successfully copied 2.05kB to {ctr}:/tmp/f\n")
    assert tty(f"{b} cp {ctr}:/tmp/f {tmp_dir}/back") == (0, f"Successfully copied 2.05kB to {tmp_dir}/back\n")
    assert tty(f"{b} cp -q {ctr}:/tmp/f {tmp_dir}/back2") == (0, "")
    assert (tmp_dir / "back2").read_text() == "x" * 100


# ---------------------------------------------------------------------------- other container states
def test_cp_created_and_exited_containers(berthd, busybox, uniq, tmp_dir):
    """Copy into a never-started container (the process sees the file), and out of an exited one;
    nothing stays mounted for a stopped container afterwards."""
    name = f"cpstopped-{uniq}"
    (tmp_dir / "script.sh").write_text("echo from-cp\necho changed > /out.txt\n")
    berthd.docker("create", "--name", name, busybox, "sh", "/script.sh").check()
    try:
        berthd.docker("cp", f"{tmp_dir}/script.sh", f"{name}:/").check()
        r = berthd.docker("start", "-a", name)
        assert r.rc == 0 and r.out == "from-cp\n", r
        berthd.docker("wait", name).check()
        berthd.docker("cp", f"{name}:/out.txt", str(tmp_dir / "out.txt")).check()
        assert (tmp_dir / "out.txt").read_text() == "changed\n"
        assert berthd.docker("inspect", "-f", "{{.State.Status}}", name).check().out.strip() == "exited"
        berthd.berth("cp", f"{tmp_dir}/script.sh", f"{name}:/again.sh").check()
        berthd.berth("cp", f"{name}:/again.sh", str(tmp_dir / "again.sh")).check()
        assert (tmp_dir / "again.sh").read_text() == (tmp_dir / "script.sh").read_text()
        if BERTH_ONLY:
            cid = berthd.docker("inspect", "-f", "{{.Id}}", name).check().out.strip()
            assert mounts_under(berthd.data_root / "overlay2" / cid) == []
    finally:
        berthd.docker("rm", "-f", name)


def test_cp_bind_mounts_and_read_only(berthd, busybox, uniq, tmp_dir):
    """Paths in bind mounts are copied from/to the host directory (also for a stopped container);
    read-only volumes and a read-only rootfs refuse writes with Docker's messages."""
    vol, rovol = tmp_dir / "vol", tmp_dir / "rovol"
    vol.mkdir()
    rovol.mkdir()
    (vol / "inside").write_text("in volume\n")
    (tmp_dir / "f").write_text("new\n")
    name = f"cpvol-{uniq}"
    berthd.docker("create", "--name", name, "--read-only", "-v", f"{vol}:/data", "-v", f"{rovol}:/ro:ro",
                  busybox, "sleep", "600").check()
    try:
        for running in (False, True):
            if running:
                berthd.docker("start", name).check()
            berthd.docker("cp", f"{tmp_dir}/f", f"{name}:/data/copied-{running}").check()
            assert (vol / f"copied-{running}").read_text() == "new\n"
            r = berthd.docker("cp", f"{name}:/data/inside", "-")
            assert r.rc == 0 and "in volume" in r.out
            r = berthd.docker("cp", f"{tmp_dir}/f", f"{name}:/ro/")
            assert r.rc == 1 and r.err == "Error response from daemon: mounted volume is marked read-only\n", r
            r = berthd.docker("cp", f"{tmp_dir}/f", f"{name}:/tmp/")
            assert r.rc == 1 and r.err == "Error response from daemon: container rootfs is marked read-only\n", r
            assert list(rovol.iterdir()) == []
        ls = berthd.docker("exec", name, "ls", "/data").check().lines()
        assert ls == ["copied-False", "copied-True", "inside"]
        # the volume's content is part of a copy of its parent
        out = subprocess.run([DOCKER_CLI, "cp", f"{name}:/", "-"], env=dict(os.environ, **berthd.env),
                             capture_output=True, timeout=120)
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
            names = t.getnames()
        assert "/data/inside" in names and "/bin/busybox" in names
        resp = berthd.api("PUT", archive_url(name, "/ro"), body=tar_bytes([("x", "f", b"x")]))
        assert resp.status == (400 if BERTH_ONLY else 500), resp
    finally:
        berthd.docker("rm", "-f", name)


def test_cp_archive_mode_uses_container_user(berthd, busybox, uniq, tmp_dir):
    """`-a` gives every entry the container user's IDs (resolved in the container's /etc/passwd);
    without it the local owners are kept."""
    (tmp_dir / "f").write_text("f")
    os.chown(tmp_dir / "f", 1234, 5678)
    name = f"cpa-{uniq}"
    user = "berth" if BERTH_ONLY else ""  # dockerd 20.10 looks the user up on the host
    berthd.docker("run", "-d", "--name", name, *(["-u", user] if user else []), busybox, "sleep", "600").check()
    try:
        for cli in CLIS:
            berthd.cli(cli, "cp", "-a", f"{tmp_dir}/f", f"{name}:/tmp/a-{cli}").check()
            berthd.cli(cli, "cp", f"{tmp_dir}/f", f"{name}:/tmp/n-{cli}").check()
            ids = berthd.docker("exec", name, "stat", "-c", "%u:%g", f"/tmp/a-{cli}", f"/tmp/n-{cli}").check().lines()
            assert ids == (["1000:1000", "1234:5678"] if user else ["1234:5678", "1234:5678"]), (cli, ids)
    finally:
        berthd.docker("rm", "-f", name)


# ---------------------------------------------------------------------------- the API itself
def test_head_stat_header(berthd, ctr):
    berthd.docker("exec", ctr, "sh", "-c", "mkdir /sd && ln -s /sd /sdl && ln -s /nowhere/x /broken").check()
    r = berthd.api("HEAD", archive_url(ctr, "/etc/passwd"))
    assert r.status == 200 and r.body == b""
    st = stat_header(r)
    assert list(st) == ["name", "size", "mode", "mtime", "linkTarget"]
    assert st["name"] == "passwd" and st["mode"] == 0o644 and st["linkTarget"] == "" and st["size"] > 100
    assert st["mtime"].endswith("Z") and st["mtime"].startswith("20")
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/bin/sh")))
    assert st["name"] == "sh" and st["mode"] == (1 << 27) | 0o777 and st["linkTarget"] == "/bin/busybox"
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/sdl")))
    assert st["mode"] & (1 << 27) and st["linkTarget"] == "/sd"
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/sdl/")))  # a trailing slash follows the link
    assert st["name"] == "sdl" and st["mode"] == (1 << 31) | 0o755
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/broken")))
    assert st["linkTarget"] == "/nowhere/x"
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/")))
    assert st["name"] == "/" and st["mode"] & (1 << 31)
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/tmp/.")))
    assert st["name"] == "." and st["mode"] == (1 << 31) | (1 << 20) | 0o777  # sticky /tmp
    st = stat_header(berthd.api("HEAD", archive_url(ctr, "/x/../../etc/./passwd")))
    assert st["name"] == "passwd"
    assert berthd.api("HEAD", archive_url(ctr, "/nonexistent")).status == 404
    assert berthd.api("HEAD", archive_url(ctr, "/etc/passwd/")).status == 500
    assert berthd.api("HEAD", "/containers/nosuch-ctr-x/archive?path=/").status == 404


def test_archive_api_errors(berthd, ctr):
    r = berthd.api("GET", archive_url(ctr, "/nonexistent"))
    assert (r.status, r.json()) == (404, {"message": f"Could not find the file /nonexistent in container {ctr}"})
    r = berthd.api("GET", f"/containers/{ctr}/archive")
    assert (r.status, r.json()) == (400, {"message": "bad parameter: pathcannot be empty"})
    r = berthd.api("PUT", archive_url(ctr, "/nonexistent"), body=tar_bytes([("x", "f", b"x")]))
    assert (r.status, r.json()) == (404, {"message": f"Could not find the file /nonexistent in container {ctr}"})
    r = berthd.api("PUT", archive_url(ctr, "/etc/passwd"), body=tar_bytes([("x", "f", b"x")]))
    assert r.status == (400 if BERTH_ONLY else 500) and r.json() == {"message": "extraction point is not a directory"}
    r = berthd.api("GET", "/containers/nosuch-ctr-x/export")
    assert (r.status, r.json()) == (404, {"message": "No such container: nosuch-ctr-x"})
    # a gzip-compressed body is accepted, as moby's Untar decompresses
    import gzip
    r = berthd.api("PUT", archive_url(ctr, "/tmp"), body=gzip.compress(tar_bytes([("gz.txt", "f", b"gz\n")])))
    assert r.status == 200, r
    assert berthd.docker("exec", ctr, "cat", "/tmp/gz.txt").check().out == "gz\n"


def test_hostile_tars_are_refused(berthd, ctr, sentinel_dir):
    """`..` names, symlinks or hard links climbing out of the destination, writes through a symlink to
    an absolute host-looking path: nothing lands on the host; berthd refuses before writing anything."""
    s = str(sentinel_dir)
    berthd.docker("exec", ctr, "mkdir", "/x").check()
    cases = {
        "dotdot": [("ok-first", "f", b"1"), ("../escape", "f", b"x")],
        "rel-symlink": [("lnk", "l", "../../../../../../.." + s), ("lnk/pwned", "f", b"x")],
        "abs-symlink": [("abs", "l", s), ("abs/pwned", "f", b"x")],
        "hardlink": [("hl", "h", "../../etc/passwd")],
    }
    for case, entries in cases.items():
        r = berthd.api("PUT", archive_url(ctr, "/x"), body=tar_bytes(entries))
        assert r.status >= 400, (case, r)
        assert list(sentinel_dir.iterdir()) == [], case
    assert berthd.api("GET", archive_url(ctr, "/escape")).status == 404
    assert berthd.api("GET", archive_url(ctr, s + "/pwned")).status == 404
    if BERTH_ONLY:
        # validated before anything is written; a failure half-way removes what it created
        assert berthd.docker("exec", ctr, "ls", "-A", "/x").check().out == ""
        r = berthd.api("PUT", archive_url(ctr, "/x"), body=tar_bytes(cases["dotdot"]))
        assert (r.status, r.json()["message"]) == (500, '"../escape" is outside of "/x"')
        r = berthd.api("PUT", archive_url(ctr, "/x"), body=tar_bytes(cases["abs-symlink"]))
        assert (r.status, r.json()["message"]) == (404, f"Could not find the file /x in container {ctr}")
        truncated = tar_bytes([("a/b/c", "f", b"y" * 5000)])[:3000]
        r = berthd.api("PUT", archive_url(ctr, "/x"), body=truncated)
        assert r.status == 500 and "Truncated" in r.json()["message"], r
        assert berthd.docker("exec", ctr, "ls", "-A", "/x").check().out == ""
    # a rooted name is relative to the destination, not the container root
    r = berthd.api("PUT", archive_url(ctr, "/x"), body=tar_bytes([("/rooted", "f", b"r")]))
    assert r.status == 200
    assert berthd.docker("exec", ctr, "cat", "/x/rooted").check().out == "r"


def test_no_overwrite_dir_non_dir(berthd, ctr):
    berthd.docker("exec", ctr, "sh", "-c", "mkdir -p /n/dir && echo f > /n/file").check()
    r = berthd.api("PUT", archive_url(ctr, "/n", noOverwriteDirNonDir="true"), body=tar_bytes([("dir", "f", b"x")]))
    assert r.status == 500 and r.json()["message"].endswith('cannot overwrite directory "/n/dir" with non-directory "/n"'), r
    r = berthd.api("PUT", archive_url(ctr, "/n", noOverwriteDirNonDir="true"), body=tar_bytes([("file/", "d", None)]))
    assert r.status == 500 and r.json()["message"].endswith('cannot overwrite non-directory "/n/file" with directory "/n"'), r
    # without the flag an existing object is replaced
    r = berthd.api("PUT", archive_url(ctr, "/n"), body=tar_bytes([("dir", "f", b"now a file")]))
    assert r.status == 200
    assert berthd.docker("exec", ctr, "cat", "/n/dir").check().out == "now a file"
    r = berthd.api("PUT", archive_url(ctr, "/n"), body=tar_bytes([("file/", "d", None), ("file/in", "f", b"i")]))
    assert r.status == 200
    assert berthd.docker("exec", ctr, "cat", "/n/file/in").check().out == "i"


# ---------------------------------------------------------------------------- docker-py and export
def test_docker_py_archive_and_export(berthd, ctr):
    c = berthd.client.containers.get(ctr)
    assert c.put_archive("/tmp", tar_bytes([("py/", "d", None), ("py/data.bin", "f", b"\x00\x01" * 5000)])) is True
    stream, stat = c.get_archive("/tmp/py")
    assert stat["name"] == "py" and stat["mode"] & (1 << 31)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as t:
        assert sorted(t.getnames()) == ["py", "py/data.bin"]
        assert t.extractfile("py/data.bin").read() == b"\x00\x01" * 5000
    with pytest.raises(Exception) as e:
        c.get_archive("/nonexistent")
    assert "Could not find the file /nonexistent" in str(e.value)
    with tarfile.open(fileobj=io.BytesIO(b"".join(c.export()))) as t:
        names = t.getnames()
        assert "bin/busybox" in names and "etc/passwd" in names and "tmp/py/data.bin" in names
        assert not any(n.startswith(("/", "./")) for n in names)
        assert t.getmember("bin/sh").issym() and t.getmember("bin/sh").linkname == "busybox"


@pytest.mark.parametrize("cli", CLIS)
def test_export(berthd, ctr, tmp_dir, cli):
    berthd.docker("exec", ctr, "sh", "-c", "echo exported > /marker").check()
    out = tmp_dir / f"{cli}.tar"
    r = berthd.cli(cli, "export", "-o", str(out), ctr)
    assert r.rc == 0 and r.out == "" and r.err == "", r
    with tarfile.open(out) as t:
        members = {m.name: m for m in t.getmembers()}
        assert t.extractfile("marker").read() == b"exported\n"
        assert members["tmp"].isdir() and members["tmp"].mode & 0o7777 == 0o1777
        assert members["bin/busybox"].size > 100000
    env = dict(os.environ, **berthd.env)
    p = subprocess.run([cli_bin(cli), "container", "export", ctr], env=env, capture_output=True, timeout=120)
    assert p.returncode == 0 and p.stdout[:512] == out.read_bytes()[:512]
    if shutil.which("script"):
        p = subprocess.run(["script", "-qec", f"{cli_bin(cli)} export {ctr}", "/dev/null"], env=env,
                           capture_output=True, timeout=60)
        assert p.returncode == 1
        assert p.stdout.decode().replace("\r\n", "\n") == "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"


def test_archive_events(berthd, ctr, tmp_dir):
    since = str(int(time.time()) - 1)
    (tmp_dir / "f").write_text("e")
    berthd.docker("cp", f"{tmp_dir}/f", f"{ctr}:/tmp/").check()
    berthd.docker("cp", f"{ctr}:/tmp/f", str(tmp_dir / "g")).check()
    berthd.api("GET", f"/containers/{ctr}/export")
    until = str(int(time.time()) + 1)
    r = berthd.docker("events", "--since", since, "--until", until, "--filter", f"container={ctr}",
                      "--format", "{{.Action}}").check()
    acts = r.lines()
    assert "extract-to-dir" in acts and "archive-path" in acts and "export" in acts, acts


def test_export_output_errors_match_docker(berthd, ctr, tmp_dir):
    (tmp_dir / "f").write_text("x")
    (tmp_dir / "link").symlink_to("f")
    for out in (f"{tmp_dir}/nodir/x.tar", str(tmp_dir), f"{tmp_dir}/f/x.tar", f"{tmp_dir}/link"):
        d = berthd.docker("export", "-o", out, ctr)
        b = berthd.berth("export", "-o", out, ctr)
        assert d.rc == 1 and d.err.startswith("failed to export container: "), d
        assert (b.rc, b.out, b.err) == (d.rc, d.out, d.err), out
    r = berthd.berth("export", "-o", f"{tmp_dir}/x.tar", "nosuch-ctr-x")
    assert (r.rc, r.err) == (1, "Error response from daemon: No such container: nosuch-ctr-x\n")
    assert sorted(p.name for p in tmp_dir.iterdir()) == ["f", "link"]  # no temporary file left
    berthd.berth("export", "-o", f"{tmp_dir}/ok.tar", ctr).check()
    assert (tmp_dir / "ok.tar").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("cli", CLIS)
def test_cp_non_ascii_names(berthd, ctr, tmp_dir, cli):
    """UTF-8 names and link targets survive both directions as plain PAX records."""
    src = tmp_dir / "ünï"
    src.mkdir()
    (src / "日本 語.txt").write_text("x\n")
    (src / "lïnk").symlink_to("日本 語.txt")
    berthd.cli(cli, "cp", str(src), f"{ctr}:/tmp/").check()
    assert berthd.docker("exec", ctr, "cat", "/tmp/ünï/lïnk").check().out == "x\n"
    r = berthd.api("GET", archive_url(ctr, "/tmp/ünï"))
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        members = t.getmembers()
        assert sorted(m.name for m in members) == ["ünï", "ünï/lïnk", "ünï/日本 語.txt"]
        assert t.getmember("ünï/lïnk").linkname == "日本 語.txt"
        assert not any("hdrcharset" in m.pax_headers for m in members)
    berthd.cli(cli, "cp", f"{ctr}:/tmp/ünï", str(tmp_dir / "back")).check()
    assert os.readlink(tmp_dir / "back" / "lïnk") == "日本 語.txt"
    assert (tmp_dir / "back" / "日本 語.txt").read_text() == "x\n"
