"""Pure-Python builder for OCI / Docker schema2 test images (no network, no Docker).

Layers are made with `tarfile` (PAX format, deterministic), compressed with gzip (stdlib),
zstd (the `zstd` CLI) or not at all. Images carry a config, a manifest (Docker schema2 or
OCI) and can be grouped in a manifest list / OCI index. `registry.RegistryClient.push`
uploads them.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Sequence

# ---------------------------------------------------------------- media types
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

DEFAULT_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
CREATED = "2023-11-14T22:13:20Z"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = [
    "sh", "ash", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "mkdir", "rm",
    "rmdir", "touch", "test", "[", "head", "tail", "wc", "grep", "sed", "stat", "uname", "hostname",
    "whoami", "ps", "ln", "cp", "mv", "chmod", "chown", "readlink", "printf", "date", "find", "kill",
    "sync", "mount", "umount", "cut", "sort", "uniq", "tr", "xargs", "md5sum", "sha256sum", "du",
    "df", "nc", "wget", "vi", "tee", "basename", "dirname", "seq", "expr", "top", "free", "mknod",
    "realpath",
]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


# ---------------------------------------------------------------- tar entries
@dataclass
class Entry:
    """One tar entry. `path` is written verbatim (malicious paths are allowed on purpose)."""
    path: str
    type: str = "file"  # file dir symlink hardlink char block fifo
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int = DEFAULT_MTIME
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, str] = field(default_factory=dict)

    def tarinfo(self) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(self.path)
        ti.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                   "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
                   "fifo": tarfile.FIFOTYPE}[self.type]
        default_mode = {"dir": 0o755, "symlink": 0o777, "char": 0o666, "block": 0o660, "fifo": 0o644}
        ti.mode = self.mode if self.mode is not None else default_mode.get(self.type, 0o644)
        ti.uid, ti.gid, ti.uname, ti.gname = self.uid, self.gid, self.uname, self.gname
        ti.mtime = self.mtime
        ti.linkname = self.linkname
        ti.devmajor, ti.devminor = self.devmajor, self.devminor
        ti.size = len(self.data) if self.type == "file" else 0
        if self.xattrs:
            ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in self.xattrs.items()}
        return ti


def file(path: str, data: bytes | str = b"", mode: int = 0o644, **kw) -> Entry:
    return Entry(path, "file", data.encode() if isinstance(data, str) else data, mode, **kw)


def directory(path: str, mode: int = 0o755, **kw) -> Entry:
    return Entry(path, "dir", mode=mode, **kw)


def symlink(path: str, target: str, **kw) -> Entry:
    return Entry(path, "symlink", linkname=target, **kw)


def hardlink(path: str, target: str, **kw) -> Entry:
    return Entry(path, "hardlink", linkname=target, **kw)


def chardev(path: str, major: int, minor: int, mode: int = 0o666, **kw) -> Entry:
    return Entry(path, "char", mode=mode, devmajor=major, devminor=minor, **kw)


def fifo(path: str, mode: int = 0o644, **kw) -> Entry:
    return Entry(path, "fifo", mode=mode, **kw)


def whiteout(path: str) -> Entry:
    """AUFS-style whiteout hiding `path` of lower layers."""
    d, base = os.path.split(path.rstrip("/"))
    return file(os.path.join(d, ".wh." + base), b"", 0o600)


def opaque(dirpath: str) -> Entry:
    """Marks `dirpath` opaque: lower layers' contents of it are hidden."""
    return file(os.path.join(dirpath.rstrip("/"), ".wh..wh..opq"), b"", 0o600)


def make_tar(entries: Iterable[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = e.tarinfo()
            tf.addfile(ti, io.BytesIO(e.data) if e.type == "file" else None)
    return buf.getvalue()


# ---------------------------------------------------------------- layers
def compress(data: bytes, compression: str, level: int = 6) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=level, mtime=0)
    if compression == "zstd":
        z = shutil.which("zstd")
        if not z:
            raise RuntimeError("zstd CLI not installed (apt-get install zstd)")
        return subprocess.run([z, "-q", "-c", f"-{min(level, 19)}", "-"], input=data,
                              capture_output=True, check=True).stdout
    if compression == "none":
        return data
    raise ValueError(compression)


@dataclass
class Layer:
    """A layer blob: uncompressed tar (`tar`, diff_id) and its compressed bytes (`blob`, digest)."""
    tar: bytes
    blob: bytes
    compression: str = "gzip"
    comment: str = ""

    @classmethod
    def from_entries(cls, entries: Iterable[Entry], compression: str = "gzip", level: int = 6,
                     comment: str = "") -> "Layer":
        t = make_tar(entries)
        return cls(t, compress(t, compression, level), compression, comment)

    @classmethod
    def from_tar(cls, tar: bytes, compression: str = "gzip", level: int = 6, comment: str = "") -> "Layer":
        return cls(tar, compress(tar, compression, level), compression, comment)

    @property
    def diff_id(self) -> str:
        return sha256(self.tar)

    @property
    def digest(self) -> str:
        return sha256(self.blob)

    @property
    def size(self) -> int:
        return len(self.blob)

    def media_type(self, flavor: str) -> str:
        if flavor == "docker":
            return {"gzip": DOCKER_LAYER_GZIP, "none": DOCKER_LAYER_TAR, "zstd": OCI_LAYER_ZSTD}[self.compression]
        return {"gzip": OCI_LAYER_GZIP, "none": OCI_LAYER_TAR, "zstd": OCI_LAYER_ZSTD}[self.compression]


# ---------------------------------------------------------------- images
@dataclass
class Image:
    """An image: layers + config, serialised as a Docker schema2 (`flavor='docker'`) or OCI manifest."""
    layers: list[Layer]
    flavor: str = "docker"  # "docker" | "oci"
    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    env: list[str] = field(default_factory=lambda: [DEFAULT_PATH])
    cmd: list[str] | None = field(default_factory=lambda: ["sh"])
    entrypoint: list[str] | None = None
    workdir: str = ""
    user: str = ""
    labels: dict[str, str] | None = None
    exposed_ports: dict[str, dict] | None = None
    volumes: dict[str, dict] | None = None
    stop_signal: str | None = None
    created: str = CREATED
    author: str | None = None
    history: list[dict] | None = None
    annotations: dict[str, str] | None = None
    extra_config: dict = field(default_factory=dict)

    def config_obj(self) -> dict:
        c: dict = {"Env": list(self.env)}
        if self.cmd is not None:
            c["Cmd"] = list(self.cmd)
        if self.entrypoint is not None:
            c["Entrypoint"] = list(self.entrypoint)
        if self.workdir:
            c["WorkingDir"] = self.workdir
        if self.user:
            c["User"] = self.user
        if self.labels:
            c["Labels"] = dict(self.labels)
        if self.exposed_ports:
            c["ExposedPorts"] = dict(self.exposed_ports)
        if self.volumes:
            c["Volumes"] = dict(self.volumes)
        if self.stop_signal:
            c["StopSignal"] = self.stop_signal
        hist = self.history
        if hist is None:
            hist = [{"created": self.created, "created_by": l.comment or f"berth-test layer {i}",
                     "comment": "berth integration test"} for i, l in enumerate(self.layers)]
        obj = {
            "architecture": self.architecture,
            "os": self.os,
            "created": self.created,
            "config": c,
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in self.layers]},
            "history": hist,
        }
        if self.variant:
            obj["variant"] = self.variant
        if self.author:
            obj["author"] = self.author
        obj.update(self.extra_config)
        return obj

    @property
    def config_bytes(self) -> bytes:
        return canonical_json(self.config_obj())

    @property
    def config_digest(self) -> str:
        return sha256(self.config_bytes)

    @property
    def id(self) -> str:
        """The image ID Docker shows (digest of the config)."""
        return self.config_digest

    @property
    def diff_ids(self) -> list[str]:
        return [l.diff_id for l in self.layers]

    @property
    def manifest_media_type(self) -> str:
        return DOCKER_MANIFEST if self.flavor == "docker" else OCI_MANIFEST

    def manifest_obj(self) -> dict:
        m = {
            "schemaVersion": 2,
            "mediaType": self.manifest_media_type,
            "config": {"mediaType": DOCKER_CONFIG if self.flavor == "docker" else OCI_CONFIG,
                       "size": len(self.config_bytes), "digest": self.config_digest},
            "layers": [{"mediaType": l.media_type(self.flavor), "size": l.size, "digest": l.digest}
                       for l in self.layers],
        }
        if self.annotations and self.flavor == "oci":
            m["annotations"] = dict(self.annotations)
        return m

    @property
    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest_obj(), indent=3).encode()

    @property
    def digest(self) -> str:
        """The manifest digest (what `RepoDigests` shows)."""
        return sha256(self.manifest_bytes)

    @property
    def platform(self) -> dict:
        p = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            p["variant"] = self.variant
        return p

    def blobs(self) -> list[tuple[str, bytes]]:
        """(digest, bytes) of every blob, config last."""
        return [(l.digest, l.blob) for l in self.layers] + [(self.config_digest, self.config_bytes)]

    def total_size(self) -> int:
        return sum(l.size for l in self.layers) + len(self.config_bytes)

    def unpacked_size(self) -> int:
        return sum(_tar_content_size(l.tar) for l in self.layers)


def _tar_content_size(tar: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        return sum(m.size for m in tf.getmembers() if m.isreg())


@dataclass
class Index:
    """A manifest list (flavor 'docker') or OCI image index over several platform images."""
    images: list[Image]
    flavor: str = "docker"

    @property
    def media_type(self) -> str:
        return DOCKER_MANIFEST_LIST if self.flavor == "docker" else OCI_INDEX

    def obj(self) -> dict:
        return {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [{"mediaType": im.manifest_media_type, "size": len(im.manifest_bytes),
                           "digest": im.digest, "platform": im.platform} for im in self.images],
        }

    @property
    def manifest_bytes(self) -> bytes:
        return json.dumps(self.obj(), indent=3).encode()

    @property
    def digest(self) -> str:
        return sha256(self.manifest_bytes)

    def for_platform(self, os_: str, arch: str) -> Image:
        for im in self.images:
            if im.os == os_ and im.architecture == arch:
                return im
        raise KeyError(f"{os_}/{arch}")


# ---------------------------------------------------------------- canned contents
_busybox_cache: bytes | None = None


def busybox_bytes() -> bytes:
    global _busybox_cache
    if _busybox_cache is None:
        if not os.path.exists(BUSYBOX):
            raise RuntimeError(f"{BUSYBOX} missing: apt-get install busybox-static")
        with open(BUSYBOX, "rb") as f:
            _busybox_cache = f.read()
    return _busybox_cache


def busybox_entries(extra_passwd: str = "") -> list[Entry]:
    """A minimal rootfs: /bin/busybox + applet symlinks, /etc/passwd, /etc/group, usual dirs."""
    es = [directory("bin"), file("bin/busybox", busybox_bytes(), 0o755)]
    for a in BUSYBOX_APPLETS:
        es.append(symlink(f"bin/{a}", "busybox"))
    es += [
        directory("dev"), directory("etc"), directory("home"), directory("proc", 0o555),
        directory("root", 0o700), directory("sys", 0o555), directory("tmp", 0o1777),
        directory("usr"), directory("usr/bin"), directory("var"), directory("var/tmp", 0o1777),
        symlink("usr/bin/env", "/bin/env"),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                           "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                           "berth:x:1000:1000:berth:/home/berth:/bin/sh\n" + extra_passwd),
        file("etc/group", "root:x:0:\ndaemon:x:1:\nberth:x:1000:\nnogroup:x:65534:\n"),
        file("etc/hostname", "berth-test\n"),
        file("etc/os-release", 'NAME="berth test busybox"\nID=berth-test\n'),
        directory("home/berth", 0o755, uid=1000, gid=1000),
    ]
    return es


def busybox_layer(compression: str = "gzip") -> Layer:
    return Layer.from_entries(busybox_entries(), compression, comment="ADD busybox rootfs")


def busybox_image(flavor: str = "docker", compression: str = "gzip", **kw) -> Image:
    """A one-layer runnable busybox image."""
    kw.setdefault("cmd", ["sh"])
    return Image([busybox_layer(compression)], flavor=flavor, **kw)


def unique_layer(tag: str | None = None, size: int = 0, compression: str = "gzip") -> Layer:
    """A small layer whose digest is unique (random content), e.g. to corrupt it safely."""
    tag = tag or uuid.uuid4().hex
    data = os.urandom(size) if size else tag.encode()
    return Layer.from_entries([directory("unique"), file(f"unique/{tag}", data)], compression,
                              comment=f"unique {tag}")


def random_layer(size: int, compression: str = "gzip", chunk: int = 8 << 20, name: str = "big",
                 level: int = 1) -> Layer:
    """A layer of `size` incompressible bytes split in files of `chunk` bytes."""
    es = [directory(name)]
    n = 0
    i = 0
    while n < size:
        c = min(chunk, size - n)
        es.append(file(f"{name}/part{i:04d}", os.urandom(c)))
        n += c
        i += 1
    return Layer.from_entries(es, compression, level=level, comment=f"random {size} bytes")


FANCY_XATTR = ("user.berth.test", "hello-xattr")


def fancy_layers(compression: str = "gzip") -> list[Layer]:
    """Layers 2 and 3 of the 'fancy' image (to stack on busybox):

    L2 adds files with odd modes/owners/mtimes, an xattr, a char device 1:3, a fifo,
    files later whited out, a dir later made opaque.
    L3 whiteouts data/remove-me.txt and data/gone-dir, makes opq/ opaque (adds opq/new),
    adds a hard link pair, absolute and relative symlinks, and overwrites data/a.txt.
    """
    l2 = [
        directory("data", 0o755),
        file("data/a.txt", "a version 1\n"),
        file("data/remove-me.txt", "will be whited out\n"),
        directory("data/gone-dir"), file("data/gone-dir/inner", "inner\n"),
        directory("data/sub", 0o750, uid=1000, gid=1000),
        file("data/sub/owned", "owned by 1000:1000\n", 0o640, uid=1000, gid=1000),
        file("data/nobody", "65534\n", 0o600, uid=65534, gid=65534),
        file("data/setuid", "#!/bin/sh\necho suid\n", 0o4755),
        directory("data/sticky", 0o1777),
        file("data/old-mtime", "old\n", mtime=1_000_000_000),
        file("data/xattr", "has an xattr\n", xattrs={FANCY_XATTR[0]: FANCY_XATTR[1]}),
        file("data/exec", "#!/bin/sh\necho exec\n", 0o755),
        chardev("data/null", 1, 3),
        fifo("data/fifo"),
        directory("opq"), file("opq/old1", "old1\n"), file("opq/old2", "old2\n"),
    ]
    l3 = [
        directory("data"),
        file("data/a.txt", "a version 2\n"),
        whiteout("data/remove-me.txt"),
        whiteout("data/gone-dir"),
        directory("opq"), opaque("opq"), file("opq/new", "new\n"),
        file("data/hl-src", "hard linked\n"),
        hardlink("data/hl-dst", "data/hl-src"),
        symlink("data/abs-link", "/bin/busybox"),
        symlink("data/rel-link", "../bin/sh"),
        symlink("data/dangling", "/does/not/exist"),
    ]
    return [Layer.from_entries(l2, compression, comment="ADD fancy files"),
            Layer.from_entries(l3, compression, comment="whiteouts, opaque, links")]


# What the merged rootfs of busybox + fancy_layers() must look like (checked by tests that can see it).
FANCY_EXPECT = {
    "present": ["bin/busybox", "data/a.txt", "data/sub/owned", "data/xattr", "data/null", "data/fifo",
                "opq/new", "data/hl-src", "data/hl-dst", "data/abs-link", "data/rel-link", "data/dangling"],
    "absent": ["data/remove-me.txt", "data/gone-dir", "opq/old1", "opq/old2",
               "data/.wh.remove-me.txt", "opq/.wh..wh..opq"],
    "content": {"data/a.txt": b"a version 2\n", "opq/new": b"new\n"},
    "mode": {"data/sub": 0o750, "data/sub/owned": 0o640, "data/setuid": 0o4755, "data/sticky": 0o1777,
             "data/nobody": 0o600},
    "owner": {"data/sub/owned": (1000, 1000), "data/nobody": (65534, 65534), "home/berth": (1000, 1000)},
    "mtime": {"data/old-mtime": 1_000_000_000},
    "symlink": {"data/abs-link": "/bin/busybox", "data/rel-link": "../bin/sh"},
    "chardev": {"data/null": (1, 3)},
    "hardlinks": [("data/hl-src", "data/hl-dst")],
    "xattr": {"data/xattr": FANCY_XATTR},
}


def fancy_image(flavor: str = "docker", compression: str = "gzip", **kw) -> Image:
    kw.setdefault("env", [DEFAULT_PATH, "BERTH_TEST=fancy", "EMPTY="])
    kw.setdefault("cmd", ["echo", "hello"])
    kw.setdefault("entrypoint", ["/bin/sh", "-c"])
    kw.setdefault("workdir", "/data")
    kw.setdefault("labels", {"org.berth.test": "fancy", "maintainer": "berth"})
    kw.setdefault("exposed_ports", {"8080/tcp": {}, "53/udp": {}})
    kw.setdefault("user", "")
    return Image([busybox_layer(compression)] + fancy_layers(compression), flavor=flavor, **kw)


def multiarch_index(flavor: str = "docker", label: str = "multiarch") -> Index:
    """linux/amd64 + linux/arm64(v8) images sharing the busybox layer, distinguishable by label/env."""
    amd = busybox_image(flavor, labels={"arch": "amd64", "set": label}, env=[DEFAULT_PATH, "ARCH=amd64"])
    arm = busybox_image(flavor, architecture="arm64", variant="v8",
                        labels={"arch": "arm64", "set": label}, env=[DEFAULT_PATH, "ARCH=arm64"])
    return Index([amd, arm], flavor=flavor)


# ---------------------------------------------------------------- malicious layers
def escaping_layers(sentinel_dir: str) -> dict[str, Layer]:
    """Layers that try to write outside the rootfs. `sentinel_dir` is an absolute host dir
    that must stay untouched (and empty) whatever the engine does with these layers.
    The layer name is the kind of attack."""
    depth = "../" * 24
    sd = sentinel_dir.strip("/")
    return {
        "dotdot": Layer.from_entries([file(f"{depth}{sd}/dotdot-pwned", "pwned\n")]),
        "dotdot-inner": Layer.from_entries([directory("a"), file(f"a/../../../../{depth}{sd}/inner-pwned", "x")]),
        "absolute": Layer.from_entries([file(f"/{sd}/absolute-pwned", "pwned\n")]),
        "symlink-abs": Layer.from_entries([symlink("evil", "/" + sd),
                                           file("evil/symlink-abs-pwned", "pwned\n")]),
        "symlink-rel": Layer.from_entries([symlink("evil2", depth + sd),
                                           file("evil2/symlink-rel-pwned", "pwned\n")]),
        "hardlink-out": Layer.from_entries([hardlink("passwd-link", depth + "etc/passwd")]),
        "hardlink-abs": Layer.from_entries([hardlink("passwd-abs", "/etc/passwd")]),
        "symlink-dir-then-file": Layer.from_entries([directory("d"), symlink("d/up", depth + sd),
                                                     file("d/up/chained-pwned", "pwned\n")]),
    }


def symlink_escape_two_layers(sentinel_dir: str) -> list[Layer]:
    """Lower layer plants `escape -> sentinel_dir`; the upper layer writes `escape/two-layer-pwned`."""
    return [Layer.from_entries([symlink("escape", sentinel_dir)]),
            Layer.from_entries([directory("escape"), file("escape/two-layer-pwned", "pwned\n")])]
