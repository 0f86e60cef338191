"""The NFS export as mounted on the portal host: one directory `<root>/<dir>` per persistent
volume, and `<root>/.trash` for the volumes deleted but not yet purged."""
from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from portal.adapters.nfs.errors import BadName, Escapes, NotADirectory, Unavailable, check_name, translate
from portal.adapters.nfs.fds import (
    DIR_FLAGS,
    listing,
    lstat,
    open_dir,
    rename_noreplace,
    rmtree_at,
    walk_size,
)
from portal.adapters.nfs.volume import DIR_MODE, VolumeDir

__all__ = ["Export", "TrashEntry", "TRASH", "SEPARATOR", "check_volume_name"]

TRASH = ".trash"
SEPARATOR = "--"           # <dir>--<stamp> in the trash


@dataclass(frozen=True)
class TrashEntry:
    name: str          # the entry's name under .trash
    dir: str           # the volume directory it was
    stamp: str         # what to_trash() was given
    mtime: float


def check_volume_name(dir: str) -> str:
    check_name(dir)
    if dir == TRASH:
        raise BadName("reserved for the trash", dir)
    return dir


def _check_stamp(stamp: str) -> str:
    check_name(stamp)
    if SEPARATOR in stamp:
        raise BadName(f"a stamp may not hold {SEPARATOR!r}", stamp)
    return stamp


def _parse_trash_name(name: str) -> tuple[str, str]:
    check_name(name)
    dir, sep, stamp = name.rpartition(SEPARATOR)
    if not sep or not dir or not stamp or dir == TRASH:
        raise BadName("not a trash entry", name)
    return dir, stamp


class Export:
    """The export's root directory (it may itself be a symlink the administrator made; nothing
    below it is followed)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Export({str(self.root)!r})"

    def _root_fd(self) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise Unavailable(f"the export root cannot be opened ({err.strerror})", str(self.root),
                              errno=err.errno)

    @contextlib.contextmanager
    def _root(self) -> Iterator[int]:
        fd = self._root_fd()
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def volume_fd(self, dir: str, *, path: str | None = None) -> Iterator[int]:
        """An fd of the volume's directory, opened with O_NOFOLLOW (a symlink there is Escapes).
        Errors name `path` when given, else `dir`."""
        check_volume_name(dir)
        with self._root() as root:
            fd = open_dir(dir, root, dir if path is None else path)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _trash(self, root: int, create: bool) -> Iterator[int]:
        if create:
            try:
                os.mkdir(TRASH, 0o700, dir_fd=root)
            except FileExistsError:
                pass
            except OSError as err:
                raise translate(err, TRASH)
        fd = open_dir(TRASH, root, TRASH)
        try:
            yield fd
        finally:
            os.close(fd)

    def create(self, dir: str, mode: int = DIR_MODE) -> None:
        """Make the volume's directory, writable by any container uid (`mode`, past the umask); Exists if taken."""
        check_volume_name(dir)
        with self._root() as root:
            try:
                os.mkdir(dir, 0o700, dir_fd=root)
            except OSError as err:
                raise translate(err, dir)
            fd = open_dir(dir, root, dir)
            try:
                os.fchmod(fd, mode)
            except OSError as err:
                raise translate(err, dir)
            finally:
                os.close(fd)

    def remove(self, dir: str) -> None:
        """Delete the volume's directory and all it holds (a link there is removed itself); none is fine."""
        check_volume_name(dir)
        with self._root() as root:
            try:
                st = os.stat(dir, dir_fd=root, follow_symlinks=False)
            except FileNotFoundError:
                return
            except OSError as err:
                raise translate(err, dir)
            if stat.S_ISDIR(st.st_mode):
                rmtree_at(dir, root, dir)
            else:
                try:
                    os.unlink(dir, dir_fd=root)
                except OSError as err:
                    raise translate(err, dir)

    def exists(self, dir: str) -> bool:
        """Whether the volume's directory is there as a plain directory (a link or file there is False,
        though create() would find the name taken)."""
        check_volume_name(dir)
        with self._root() as root:
            try:
                return stat.S_ISDIR(os.stat(dir, dir_fd=root, follow_symlinks=False).st_mode)
            except FileNotFoundError:
                return False
            except OSError as err:
                raise translate(err, dir)

    def usage(self, dir: str) -> int:
        """Bytes in the volume: the st_size of every regular file and of every symlink itself."""
        with self.volume_fd(dir) as fd:
            return walk_size(fd)

    def volume(self, dir: str) -> VolumeDir:
        return VolumeDir(self, check_volume_name(dir))

    def to_trash(self, dir: str, stamp: str) -> str:
        """Move the volume's directory to `.trash/<dir>--<stamp>` in one rename; that name is returned."""
        check_volume_name(dir)
        name = check_name(f"{dir}{SEPARATOR}{_check_stamp(stamp)}")
        with self._root() as root:
            st = lstat(dir, root, dir)
            if stat.S_ISLNK(st.st_mode):
                raise Escapes("a symbolic link, not the volume's directory", dir)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectory("not a directory", dir)
            with self._trash(root, create=True) as trash:
                rename_noreplace(dir, root, name, trash, f"{TRASH}/{name}")
        return name

    def restore(self, trash_name: str, dir: str) -> None:
        """Move a trash entry back as the volume directory `dir`; Exists if `dir` is taken."""
        _parse_trash_name(trash_name)
        check_volume_name(dir)
        with self._root() as root, self._trash(root, create=False) as trash:
            st = lstat(trash_name, trash, f"{TRASH}/{trash_name}")
            if not stat.S_ISDIR(st.st_mode):
                raise Escapes("not a directory", f"{TRASH}/{trash_name}")
            rename_noreplace(trash_name, trash, dir, root, dir)

    def purge(self, trash_name: str) -> None:
        """Delete a trash entry for good."""
        _parse_trash_name(trash_name)
        with self._root() as root, self._trash(root, create=False) as trash:
            path = f"{TRASH}/{trash_name}"
            st = lstat(trash_name, trash, path)
            if stat.S_ISDIR(st.st_mode):
                rmtree_at(trash_name, trash, path)
            else:
                try:
                    os.unlink(trash_name, dir_fd=trash)
                except OSError as err:
                    raise translate(err, path)

    def trash(self) -> list[TrashEntry]:
        """The trash's directories named `<dir>--<stamp>`, by name (none when there is no trash yet)."""
        with self._root() as root:
            try:
                fd = os.open(TRASH, DIR_FLAGS, dir_fd=root)
            except FileNotFoundError:
                return []
            except OSError:
                fd = open_dir(TRASH, root, TRASH)   # the precise error
            try:
                rows = listing(fd, TRASH)
            finally:
                os.close(fd)
        out = []
        for name, st in rows:
            try:
                dir, stamp = _parse_trash_name(name)
            except BadName:
                continue
            if stat.S_ISDIR(st.st_mode):
                out.append(TrashEntry(name, dir, stamp, st.st_mtime))
        return out
