"""One volume's directory, for the portal's file browser: every `path` is relative to it
(split_path), and nothing outside it is ever read, listed, written, renamed or deleted."""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from portal.adapters.nfs.errors import (
    BadName,
    Escapes,
    Exists,
    IsADirectory,
    OverCapacity,
    check_name,
    split_path,
    translate,
)
from portal.adapters.nfs.fds import (
    listing,
    lstat,
    open_dir,
    open_path,
    open_regular,
    rename_noreplace,
    rmtree_at,
    walk_size,
)
from portal.adapters.nfs.tarstream import COMPRESSLEVEL, TarStream

if TYPE_CHECKING:
    from portal.adapters.nfs.export import Export

__all__ = ["Entry", "VolumeDir", "TEMP_PREFIX", "kind_of"]

TEMP_PREFIX = ".hummer-upload-"
FILE_MODE = 0o666          # uploads: any container uid may read and write them
DIR_MODE = 0o777


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str                   # 'dir', 'file', 'link' or 'other' (FIFO, socket, device)
    size: int
    mtime: float
    target: str | None = None   # a link's text, shown only, never followed


def kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _entry(name: str, st: os.stat_result, dir_fd: int) -> Entry:
    target = None
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = ""
    return Entry(name, kind_of(st.st_mode), st.st_size, st.st_mtime, target)


def _join(dir_path: str, name: str) -> str:
    dir_path = dir_path.rstrip("/")
    return f"{dir_path}/{name}" if dir_path else name


def _split_entry(path: str) -> tuple[list[str], str]:
    """The parent's names and the last name of a path that names an entry (not the volume itself)."""
    parts = split_path(path)
    if not parts:
        raise BadName("the volume's own directory", path)
    return parts[:-1], parts[-1]


class VolumeDir:
    """`<root>/<dir>` of an Export; it is opened anew (O_NOFOLLOW) by each call."""

    def __init__(self, export: Export, dir: str):
        self.export = export
        self.dir = dir

    def __repr__(self) -> str:
        return f"VolumeDir({str(self.export.root)!r}, {self.dir!r})"

    @contextlib.contextmanager
    def _at(self, parts: list[str], path: str) -> Iterator[int]:
        """An fd of the directory `parts` inside the volume."""
        with self.export.volume_fd(self.dir, path="") as top:
            fd = open_path(top, parts, path)
        try:
            yield fd
        finally:
            os.close(fd)

    def usage(self) -> int:
        """Bytes of the regular files and symlinks of the whole volume."""
        with self.export.volume_fd(self.dir, path="") as top:
            return walk_size(top)

    def list(self, path: str = "") -> list[Entry]:
        """The entries of a directory, by name; symlinks are kind 'link', not followed."""
        with self._at(split_path(path), path) as fd:
            return [_entry(name, st, fd) for name, st in listing(fd, path)]

    def stat(self, path: str) -> Entry:
        parts = split_path(path)
        if not parts:
            with self._at([], path) as fd:
                st = os.fstat(fd)
            return Entry("", "dir", st.st_size, st.st_mtime)
        with self._at(parts[:-1], path) as fd:
            return _entry(parts[-1], lstat(parts[-1], fd, path), fd)

    def open_read(self, path: str) -> BinaryIO:
        """A regular file open for reading (link: Escapes, directory: IsADirectory); the caller closes it."""
        parts = split_path(path)
        if not parts:
            raise IsADirectory("is a directory", path)
        with self._at(parts[:-1], path) as dir_fd:
            fd = open_regular(parts[-1], dir_fd, path)
        return open(fd, "rb")

    def write(self, dir_path: str, name: str, stream, *, limit: int | None, overwrite: bool = False,
              chunk: int = 1 << 20, mode: int = FILE_MODE) -> int:
        """Store what `stream` gives (read to b'') as `dir_path/name`; the bytes written.

        The data goes to a new temporary file in the same directory, renamed onto `name` once all
        of it arrived: on any exception (OverCapacity past `limit` bytes, the stream failing, the
        disk full) the temporary file is removed and `name` is as it was. A directory, link or
        other non-file under `name` is never replaced; a file only with `overwrite`."""
        check_name(name)
        if chunk <= 0:
            raise ValueError("chunk must be positive")
        rel = _join(dir_path, name)
        with self._at(split_path(dir_path), dir_path) as dir_fd:
            _replaceable(name, dir_fd, rel, overwrite)
            temp = TEMP_PREFIX + secrets.token_hex(8)
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                             dir_fd=dir_fd)
            except OSError as err:
                raise translate(err, rel)
            try:
                try:
                    total = _copy(stream, fd, limit, chunk, rel)
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)           # NFS reports a failed write here too
                if overwrite:
                    _replaceable(name, dir_fd, rel, overwrite)
                    os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                else:
                    rename_noreplace(temp, dir_fd, name, dir_fd, rel)
            except BaseException as err:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                if isinstance(err, OSError) and not getattr(err, "from_stream", False):
                    raise translate(err, rel)
                raise
            return total

    def mkdir(self, dir_path: str, name: str, mode: int = DIR_MODE) -> None:
        check_name(name)
        rel = _join(dir_path, name)
        with self._at(split_path(dir_path), dir_path) as dir_fd:
            try:
                os.mkdir(name, 0o700, dir_fd=dir_fd)
            except OSError as err:
                raise translate(err, rel)
            fd = open_dir(name, dir_fd, rel)
            try:
                os.fchmod(fd, mode)
            except OSError as err:
                raise translate(err, rel)
            finally:
                os.close(fd)

    def rename(self, dir_path: str, old: str, new: str) -> None:
        """Rename the entry `old` of a directory to `new` (a link as itself); Exists if `new` is taken."""
        check_name(old)
        check_name(new)
        with self._at(split_path(dir_path), dir_path) as dir_fd:
            lstat(old, dir_fd, _join(dir_path, old))
            if old != new:
                rename_noreplace(old, dir_fd, new, dir_fd, _join(dir_path, new))

    def delete(self, path: str) -> None:
        """Delete a file, a link (itself) or a whole directory tree (never the volume's own directory)."""
        parents, name = _split_entry(path)
        with self._at(parents, path) as dir_fd:
            st = lstat(name, dir_fd, path)
            if stat.S_ISDIR(st.st_mode):
                rmtree_at(name, dir_fd, path)
                return
            try:
                os.unlink(name, dir_fd=dir_fd)
            except IsADirectoryError:      # became a directory since the look
                rmtree_at(name, dir_fd, path)
            except OSError as err:
                raise translate(err, path)

    def tar_gz(self, path: str = "", *, compresslevel: int = COMPRESSLEVEL) -> TarStream:
        """A directory (entries relative to it) or one file as a gzip'd tar, streamed: an iterator of
        bytes that owns an fd until it is exhausted or closed. Errors about `path` come at once."""
        parts = split_path(path)
        with self.export.volume_fd(self.dir, path="") as top:
            if not parts:
                return TarStream(os.dup(top), None, compresslevel=compresslevel)
            parent = open_path(top, parts[:-1], path)
        try:
            st = lstat(parts[-1], parent, path)
            if stat.S_ISDIR(st.st_mode):
                fd = open_dir(parts[-1], parent, path)
                return TarStream(fd, None, compresslevel=compresslevel)
            if not stat.S_ISREG(st.st_mode):
                raise Escapes("not a plain directory or file", path)
            parent, owned = -1, parent
            return TarStream(owned, parts[-1], compresslevel=compresslevel)
        finally:
            if parent >= 0:
                os.close(parent)


def _replaceable(name: str, dir_fd: int, rel: str, overwrite: bool) -> None:
    """Refuse to write onto what is under `name`: anything, or without `overwrite` anything but a file."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as err:
        raise translate(err, rel)
    if not overwrite:
        raise Exists("already exists", rel)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectory("is a directory", rel)
    if not stat.S_ISREG(st.st_mode):
        raise Escapes("not a plain file", rel)


def _copy(stream, fd: int, limit: int | None, chunk: int, rel: str) -> int:
    """Copy `stream` to `fd`: by the stream's own copy_into(fd) where it has one (a source of
    known length, `left` bytes, that moves its bytes without this process's buffers), else in
    chunks of one reused buffer where the stream has readinto(), else by read()."""
    copy_into = getattr(stream, "copy_into", None)
    if copy_into is not None:
        if limit is not None and stream.left > limit:
            raise OverCapacity(f"more than {limit} bytes", rel, limit=limit)
        return copy_into(fd)
    total = 0
    readinto = getattr(stream, "readinto", None)
    buf = memoryview(bytearray(chunk)) if readinto is not None else None
    while True:
        try:
            if buf is not None:
                got = readinto(buf)
                data = buf[:got] if got else b""
            else:
                data = stream.read(chunk)
        except OSError as err:
            err.from_stream = True    # the client's failure, not the filesystem's: passed on as is
            raise
        if not data:
            return total
        total += len(data)
        if limit is not None and total > limit:
            raise OverCapacity(f"more than {limit} bytes", rel, limit=limit)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
