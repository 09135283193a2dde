"""Assertions shared by the daemon tests."""
from __future__ import annotations

import json
import re

from . import images as I
from .daemon import Daemon

SHORT_ID = re.compile(r"^[0-9a-f]{12}$")
FULL_ID = re.compile(r"^sha256:[0-9a-f]{64}$")


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def assert_image(d: Daemon, ref: str, im: I.Image, repo_digest: str | None = None) -> dict:
    """`ref` is present in `d` and matches the built image `im`."""
    info = d.inspect(ref)
    assert info is not None, f"image {ref} not found after pull; images: {d.docker('images', '-a').out}"
    assert info["Id"] == im.id, (info["Id"], im.id)
    assert info["RootFS"]["Type"] == "layers"
    assert info["RootFS"]["Layers"] == im.diff_ids
    assert info["Architecture"] == im.architecture and info["Os"] == im.os
    if "@" not in ref:
        assert ref in info["RepoTags"], info["RepoTags"]
    if repo_digest:
        name = ref.split("@")[0]
        if "@" not in ref:
            last = name.rsplit("/", 1)[-1]
            if ":" in last:
                name = name[: name.rfind(":")]
        assert f"{name}@{repo_digest}" in info["RepoDigests"], info["RepoDigests"]
    return info


def images_json(d: Daemon, *filters: str) -> list[dict]:
    r = d.docker("images", "--format", "{{json .}}", *[a for f in filters for a in ("--filter", f)]).check()
    return [json.loads(l) for l in r.lines()]


def err_line(r) -> str:
    """The CLI's error text (stderr, stripped)."""
    return r.err.strip()
