#!/usr/bin/env python3
"""Build a test image offline (busybox-static based, no network) and push it to a registry.

  scripts/testimage.py --registry http://127.0.0.1:5000 --repo berth/busybox [--tag latest]
        [--kind busybox|fancy|multiarch|oci|dirs] [--dir PATH[:MAXBYTES]]... [--count N]
        [--ca CA.crt] [--user U --password P] [--level 6]

--kind dirs builds busybox + one layer per --dir (host directory copied as is, cut at MAXBYTES,
e.g. /usr/share:150M), as the pull benchmark does. --count N pushes N distinct tiny images as
tags t0..t(N-1) (shared busybox layer, different configs). Prints the manifest digest(s).
Uses tests/integration/helpers (pure Python: tarfile, gzip, hashlib, json, requests).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from helpers import images as I  # noqa: E402
from helpers.registry import RegistryClient  # noqa: E402


def parse_size(s: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper().rstrip("B")
    return int(float(s[:-1]) * mult[s[-1]]) if s and s[-1] in mult else int(s)


def dir_layer(path: str, max_bytes: int, level: int) -> I.Layer:
    """A layer holding host dir `path` (as `path` without the leading /), at most max_bytes of file data."""
    buf = io.BytesIO()
    total = 0
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        parts = Path(path).parts[1:]
        for i in range(1, len(parts)):
            ti = tarfile.TarInfo("/".join(parts[:i]))
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, I.DEFAULT_MTIME
            tf.addfile(ti)
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, "/")
            try:
                tf.add(dirpath, arcname=rel, recursive=False)
            except OSError:
                continue
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                try:
                    st = os.lstat(full)
                except OSError:
                    continue
                if total >= max_bytes:
                    break
                try:
                    tf.add(full, arcname=os.path.join(rel, f), recursive=False)
                except OSError:
                    continue
                if os.path.isfile(full) and not os.path.islink(full):
                    total += st.st_size
            if total >= max_bytes:
                break
    return I.Layer.from_tar(buf.getvalue(), "gzip", level=level, comment=f"COPY {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", required=True, help="http://HOST:PORT or https://HOST:PORT")
    ap.add_argument("--repo", required=True)
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--kind", default="busybox", choices=["busybox", "fancy", "multiarch", "oci", "dirs"])
    ap.add_argument("--dir", action="append", default=[], help="PATH[:MAXBYTES] (kind dirs)")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--ca")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--level", type=int, default=6, help="gzip level")
    a = ap.parse_args()
    c = RegistryClient(a.registry, a.ca, a.user, a.password)
    if a.count:
        for i in range(a.count):
            im = I.busybox_image(labels={"berth.bench.n": str(i)})
            print(f"t{i} {c.push(a.repo, im, f't{i}')}")
        return 0
    if a.kind == "busybox":
        obj = I.busybox_image()
    elif a.kind == "oci":
        obj = I.busybox_image("oci")
    elif a.kind == "fancy":
        obj = I.fancy_image()
    elif a.kind == "multiarch":
        obj = I.multiarch_index()
    else:
        layers = [I.busybox_layer()]
        for spec in a.dir:
            path, _, lim = spec.partition(":")
            layers.append(dir_layer(path, parse_size(lim) if lim else 1 << 62, a.level))
            t = layers[-1]
            print(f"layer {path}: {len(t.tar) / 1e6:.0f} MB tar, {t.size / 1e6:.0f} MB gzip", file=sys.stderr)
        obj = I.Image(layers, cmd=["sh"])
    print(c.push(a.repo, obj, a.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
