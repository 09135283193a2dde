"""Unpacked layers: shared base layers are unpacked once; the unpacked content matches the layers
(whiteouts, opaque dirs, hard links, devices, xattrs, modes, owners, mtimes)."""
from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from helpers import images as I
from helpers.overlay import layer_dirs, merged_view


def _files_named(root: Path, name: str) -> set[tuple[int, int]]:
    """(dev, inode) of regular files called `name` under root (hard links count once; no symlinks)."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode):
                found.add((st.st_dev, st.st_ino))
    return found


def test_shared_base_layer_unpacked_once(daemon_factory, reg_http):
    marker = f"base-marker-{uuid.uuid4().hex}"
    base = I.Layer.from_entries(I.busybox_entries() + [I.file(f"etc/{marker}", marker)])
    a = I.Image([base, I.unique_layer("a-" + marker)], labels={"img": "a"})
    b = I.Image([base, I.unique_layer("b-" + marker)], labels={"img": "b"})
    reg_http.push_image(f"snap/a-{marker[-8:]}", a)
    reg_http.push_image(f"snap/b-{marker[-8:]}", b)
    d = daemon_factory()
    d.docker("pull", "-q", reg_http.ref(f"snap/a-{marker[-8:]}")).check()
    assert len(_files_named(d.data_root, marker)) == 1
    r = d.docker("pull", reg_http.ref(f"snap/b-{marker[-8:]}"))
    assert r.rc == 0, r
    assert "Already exists" in r.out, r.out
    assert len(_files_named(d.data_root, marker)) == 1, "the shared base layer was unpacked twice"
    # removing one image keeps the shared layer for the other
    d.docker("rmi", reg_http.ref(f"snap/a-{marker[-8:]}")).check()
    assert len(_files_named(d.data_root, marker)) == 1
    d.docker("rmi", reg_http.ref(f"snap/b-{marker[-8:]}")).check()
    assert len(_files_named(d.data_root, marker)) == 0, "layers of deleted images were left behind"


def test_unpacked_fancy_layers(berthd, pushed):
    """Reads the merged view through a read-only overlay of the layer dirs from GraphDriver.Data."""
    ref = pushed.ref("it/fancy")
    berthd.docker("pull", "-q", ref).check()
    info = berthd.inspect(ref)
    dirs = layer_dirs(info)
    if len(dirs) != len(pushed.fancy.layers):
        pytest.skip(f"GraphDriver.Data gives {len(dirs)} layer dirs, not {len(pushed.fancy.layers)}: {info.get('GraphDriver')}")
    E = I.FANCY_EXPECT
    with merged_view(dirs) as root:
        for p in E["present"]:
            assert os.path.lexists(root / p), p
        for p in E["absent"]:
            assert not os.path.lexists(root / p), p
        for p, data in E["content"].items():
            assert (root / p).read_bytes() == data, p
        for p, mode in E["mode"].items():
            assert stat.S_IMODE(os.lstat(root / p).st_mode) == mode, (p, oct(os.lstat(root / p).st_mode))
        for p, (uid, gid) in E["owner"].items():
            st = os.lstat(root / p)
            assert (st.st_uid, st.st_gid) == (uid, gid), p
        for p, mt in E["mtime"].items():
            assert int(os.lstat(root / p).st_mtime) == mt, p
        for p, target in E["symlink"].items():
            assert os.readlink(root / p) == target, p
        for p, (ma, mi) in E["chardev"].items():
            st = os.lstat(root / p)
            assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (ma, mi), p
        assert stat.S_ISFIFO(os.lstat(root / "data/fifo").st_mode)
        for a, b in E["hardlinks"]:
            assert os.lstat(root / a).st_ino == os.lstat(root / b).st_ino, (a, b)
        for p, (k, v) in E["xattr"].items():
            assert os.getxattr(root / p, k, follow_symlinks=False) == v.encode(), p
        assert sorted(os.listdir(root / "opq")) == ["new"]
        assert os.access(root / "bin/busybox", os.X_OK)
