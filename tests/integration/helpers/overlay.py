"""Read an image's unpacked layers the way the kernel sees them: a read-only overlay mount of the
layer dirs the daemon reports (GraphDriver.Data: UpperDir + LowerDir), unmounted afterwards."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Iterator

from .util import make_tmpdir, rmtree


def layer_dirs(inspect: dict) -> list[str]:
    """Layer dirs top-first from an image inspect's GraphDriver.Data (overlay2 style)."""
    data = (inspect.get("GraphDriver") or {}).get("Data") or {}
    dirs = []
    if data.get("UpperDir"):
        dirs.append(data["UpperDir"])
    if data.get("LowerDir"):
        dirs += [d for d in data["LowerDir"].split(":") if d]
    return dirs


@contextlib.contextmanager
def merged_view(dirs: list[str]) -> Iterator[Path]:
    """Mount `dirs` (top-first) as a read-only overlay; yields the mount point."""
    mp = make_tmpdir("berth-ovl-")
    try:
        if len(dirs) == 1:
            subprocess.run(["mount", "--bind", "-o", "ro", dirs[0], str(mp)], check=True, capture_output=True)
        else:
            opts = "ro,lowerdir=" + ":".join(dirs)
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mp)], check=True,
                           capture_output=True)
        yield mp
    finally:
        subprocess.run(["umount", str(mp)], capture_output=True)
        rmtree(mp)
