"""A directory (or one file) as a gzip'd tar, streamed in constant memory.

tarfile's own stream mode cannot be used here: in Python 3.11 it compresses at level 9 (slow)
and its addfile() copies a whole file before the caller gets a byte back. So each member's
header comes from TarInfo.tobuf() (PAX: long and non-ASCII names), the content is copied from
an fd opened safely (fds.open_regular), and zlib makes the gzip stream.

Symlinks are stored as symlinks (their text, never what they point to); FIFOs, sockets and
device nodes are left out. A file that grows while it is read is cut at the size its header
gave; one that shrinks is padded with zeros, so that the archive stays well-formed.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import zlib
from collections.abc import Iterator

from portal.adapters.nfs.errors import NfsError, translate
from portal.adapters.nfs.fds import open_regular, walk

__all__ = ["TarStream", "COMPRESSLEVEL"]

COMPRESSLEVEL = 6
BLOCK = tarfile.BLOCKSIZE          # 512
RECORD = tarfile.RECORDSIZE        # 10240
CHUNK = 1 << 20                    # bytes read from a file at a time
FLUSH_AT = 256 * 1024              # compressed bytes gathered before they are yielded


def _info(rel: str, st: os.stat_result, kind: bytes, size: int = 0, linkname: str = "") -> bytes:
    info = tarfile.TarInfo(rel)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode) & 0o777
    info.mtime = max(0, int(st.st_mtime))
    info.uid, info.gid = st.st_uid, st.st_gid
    info.size = size
    info.linkname = linkname
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class TarStream:
    """The iterator of bytes tar_gz() returns. It owns `fd` (a directory, or the file's parent
    with `name` the file) and closes it at the end, on close() or when collected."""

    _fd = -1

    def __init__(self, fd: int, name: str | None, *, compresslevel: int = COMPRESSLEVEL):
        self._fd = fd
        self._name = name
        self._zip = zlib.compressobj(compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        self._out: list[bytes] = []
        self._pending = 0
        self._written = 0          # tar bytes, for the final padding to a record
        self._gen = self._generate()

    def __iter__(self) -> TarStream:
        return self

    def __next__(self) -> bytes:
        return next(self._gen)

    def close(self) -> None:
        if hasattr(self, "_gen"):
            self._gen.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    def _put(self, data) -> None:
        self._written += len(data)
        out = self._zip.compress(data)
        if out:
            self._out.append(out)
            self._pending += len(out)

    def _take(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        self._pending = 0
        return data

    def _generate(self) -> Iterator[bytes]:
        try:
            if self._name is not None:
                yield from self._file(self._fd, self._name, self._name)
            else:
                yield from self._tree()
            self._put(bytes(2 * BLOCK))
            self._put(bytes(-self._written % RECORD))
            self._out.append(self._zip.flush())
            yield self._take()
        finally:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _tree(self) -> Iterator[bytes]:
        with contextlib.closing(walk(self._fd)) as steps:
            for step in steps:
                if step.event != "entry":
                    continue
                mode = step.st.st_mode
                if stat.S_ISDIR(mode):
                    self._put(_info(step.rel, step.st, tarfile.DIRTYPE))
                elif stat.S_ISLNK(mode):
                    try:
                        target = os.readlink(step.name, dir_fd=step.fd)
                    except OSError:
                        continue                       # gone since it was listed
                    self._put(_info(step.rel, step.st, tarfile.SYMTYPE, linkname=target))
                elif stat.S_ISREG(mode):
                    yield from self._file(step.fd, step.name, step.rel)
                if self._pending >= FLUSH_AT:
                    yield self._take()

    def _file(self, dir_fd: int, name: str, rel: str) -> Iterator[bytes]:
        try:
            fd = open_regular(name, dir_fd, rel)
        except NfsError:
            return                                     # gone, or no longer a plain file
        try:
            st = os.fstat(fd)
            self._put(_info(rel, st, tarfile.REGTYPE, size=st.st_size))
            left = st.st_size
            buf = bytearray(min(CHUNK, max(left, 1)))
            view = memoryview(buf)
            while left > 0:
                try:
                    got = os.readv(fd, [view[:min(left, len(buf))]])
                except OSError as err:
                    raise translate(err, rel)
                if got == 0:                           # shrank: pad to the size announced
                    view[:] = bytes(len(buf))
                    while left > 0:
                        self._put(view[:min(left, len(buf))])
                        left -= min(left, len(buf))
                    break
                self._put(view[:got])
                left -= got
                if self._pending >= FLUSH_AT:
                    yield self._take()
            self._put(bytes(-st.st_size % BLOCK))
        finally:
            os.close(fd)
