"""The NFS adapter's tests' world: an export with a volume full of symlinks to a directory
outside it, and a snapshot of everything outside the volume to compare before and after."""
from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from types import SimpleNamespace

from portal.adapters import nfs

SECRET = b"top secret, outside every volume\n"


def outside_snapshot(*roots: Path) -> dict:
    """Every entry under `roots` (and the roots): its type, mode and bytes (a link's text)."""
    out = {}
    for root in roots:
        for path in [root, *sorted(p for p in root.rglob("*"))]:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                content = path.read_bytes()
            else:
                content = None
            out[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), content)
    return out


def open_fds(under: Path) -> int:
    """This process's open file descriptors on files or directories below `under` (the whole
    process's count would move with any other thread of the test worker)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile (the listing's own fd among them)
            continue
        if target == str(under) or target.startswith(f"{under}/"):
            count += 1
    return count


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(nfs.TEMP_PREFIX)]


def tar_members(chunks) -> dict:
    data = b"".join(chunks)
    assert data[:2] == b"\x1f\x8b"                      # gzip
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def make_world(tmp_path: Path) -> SimpleNamespace:
    """An export with the volume 'vol' (and a neighbour 'other'), and a directory outside the
    export; `w.untouched()` is true while nothing outside 'vol' changed."""
    root = tmp_path / "export"
    outside = tmp_path / "outside"
    (outside / "dir" / "deeper").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(SECRET)
    (outside / "dir" / "inner.txt").write_bytes(SECRET * 2)
    (outside / "dir" / "deeper" / "x").write_bytes(b"x")
    root.mkdir()
    export = nfs.Export(root)
    export.create("vol")
    export.create("other")
    (root / "other" / "data.txt").write_bytes(b"the neighbour's\n")
    vol = root / "vol"
    (vol / "sub").mkdir()
    (vol / "a.txt").write_bytes(b"alpha\n")
    (vol / "to_file").symlink_to(outside / "secret.txt")
    (vol / "to_dir").symlink_to(outside / "dir")
    (vol / "to_other").symlink_to("../other")
    before = outside_snapshot(outside, root / "other")
    return SimpleNamespace(root=root, outside=outside, export=export, vol=vol, files=export.volume("vol"),
                           untouched=lambda: outside_snapshot(outside, root / "other") == before)


class ChunkStream:
    """A request body with read() only: `chunks` in turn, then `error` raised if given, else b''."""

    def __init__(self, chunks, error: BaseException | None = None):
        self.chunks = list(chunks)
        self.error = error

    def read(self, size=-1):
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        return b""


class Zeros(io.RawIOBase):
    """`size` zero bytes through readinto(), from one block made beforehand."""

    def __init__(self, size: int):
        self.left = size
        self.block = bytes(1 << 20)

    def readable(self):
        return True

    def readinto(self, buf):
        n = min(len(buf), self.left, len(self.block))
        buf[:n] = self.block[:n]
        self.left -= n
        return n
