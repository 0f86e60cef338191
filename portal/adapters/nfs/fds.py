"""Directory file descriptors, the only way the NFS adapter reaches a file.

A path is never handed to the kernel whole: each directory is opened from its parent's fd with
O_NOFOLLOW|O_DIRECTORY, and the last operation is done relative to the parent's fd, so that a
symlink planted by a user (or swapped in for a directory between a check and a use) is refused
instead of followed out of the volume. Regular files are opened without ever opening anything
else (a FIFO would block, a device node would be the portal host's): an O_PATH fd is checked
first and reopened through /proc/self/fd.

walk() goes through a whole tree without recursion and with two fds at most, so that deep trees
hit neither Python's recursion limit nor the fd limit.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from portal.adapters.nfs.errors import Escapes, IsADirectory, NfsError, NotADirectory, NotFound, translate

__all__ = ["DIR_FLAGS", "open_dir", "open_path", "open_regular", "lstat", "rename_noreplace", "listing",
           "walk", "Step", "walk_size", "rmtree_at"]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
RENAME_NOREPLACE = 1


def open_dir(name: str, dir_fd: int, path: str) -> int:
    """A new fd of the directory `name` in `dir_fd`; a symlink there is Escapes."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        raise _refine(err, name, dir_fd, path)


def _refine(err: OSError, name: str, dir_fd: int, path: str) -> NfsError:
    # O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR: tell a link from a file by a look at it
    if err.errno in (errno.ENOTDIR, errno.ELOOP):
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode) or err.errno == errno.ELOOP:
            return Escapes("a symbolic link is in the way", path)
        if not stat.S_ISREG(mode):
            return Escapes("not a plain directory or file", path)
        return NotADirectory("not a directory", path)
    return translate(err, path)


def open_path(top_fd: int, parts: list[str], path: str = "") -> int:
    """A new fd of the directory `parts` below `top_fd` (a copy of `top_fd` for [])."""
    fd = os.dup(top_fd)
    try:
        for i, part in enumerate(parts):
            child = open_dir(part, fd, "/".join(parts[:i + 1]))
            fd, old = child, fd
            os.close(old)
        return fd
    except BaseException:
        os.close(fd)
        raise


def lstat(name: str, dir_fd: int, path: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as err:
        raise translate(err, path)


# Where /proc is mounted, an O_PATH fd is reopened through it: the inode checked, nothing else.
PROC_FD = os.path.isdir("/proc/self/fd")


def open_regular(name: str, dir_fd: int, path: str) -> int:
    """A new read-only fd of the regular file `name` in `dir_fd`: a link is Escapes, a directory
    IsADirectory, a FIFO, socket or device node Escapes, and none of them is ever opened for reading."""
    try:
        handle = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as err:
        raise translate(err, path)
    try:
        st = os.fstat(handle)
        if stat.S_ISLNK(st.st_mode):
            raise Escapes("a symbolic link, not a file", path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectory("is a directory", path)
        if not stat.S_ISREG(st.st_mode):
            raise Escapes("not a regular file", path)
        try:
            if PROC_FD:  # the very inode checked above, whatever the name points to now
                fd = os.open(f"/proc/self/fd/{handle}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
            else:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK,
                             dir_fd=dir_fd)
        except OSError as err:
            raise translate(err, path)
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
            os.close(fd)
            raise Escapes("the file changed while it was opened", path)
        if not PROC_FD:
            os.set_blocking(fd, True)
        return fd
    finally:
        os.close(handle)


def _load_renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


_renameat2 = _load_renameat2()


def rename_noreplace(src: str, src_fd: int, dst: str, dst_fd: int, path: str) -> None:
    """Rename an entry (never what a link points to) unless `dst` is taken (Exists). Atomic where the
    filesystem has renameat2(RENAME_NOREPLACE); NFS has not: there, a look first, then rename()."""
    if _renameat2 is not None:
        if _renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise translate(OSError(code, os.strerror(code)), path)
    try:
        os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    except OSError as err:
        raise translate(err, path)
    else:
        raise translate(OSError(errno.EEXIST, "exists"), path)
    try:
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except OSError as err:
        raise translate(err, path)


def listing(fd: int, path: str = "") -> list[tuple[str, os.stat_result]]:
    """One directory's entries (name, lstat), by name; links are not followed, what vanished is left out."""
    out = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    out.append((entry.name, entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
    except OSError as err:
        raise translate(err, path)
    out.sort(key=lambda item: item[0])
    return out


@dataclass(frozen=True)
class Step:
    """One step of walk(): "entry" for each entry (a directory's before its content), "leave" after
    a directory's content, "skipped" for a directory that could not be entered (it vanished or
    became something else since it was listed). `fd` is the directory holding `name`, open only
    until the walk goes on; `rel` is the entry's path below the top."""
    event: str
    fd: int
    rel: str
    name: str
    st: os.stat_result


@dataclass
class _Frame:
    entries: Iterator[tuple[str, os.stat_result]]
    rel: str              # '' for the top, else 'a/b/'
    name: str
    st: os.stat_result


def walk(top_fd: int) -> Iterator[Step]:
    """Every entry below `top_fd` depth first, by name, without following links."""
    cur = os.dup(top_fd)
    try:
        frames = [_Frame(iter(listing(cur)), "", "", os.fstat(cur))]
        while frames:
            frame = frames[-1]
            for name, st in frame.entries:
                rel = frame.rel + name
                yield Step("entry", cur, rel, name, st)
                if not stat.S_ISDIR(st.st_mode):
                    continue
                try:
                    child = os.open(name, DIR_FLAGS, dir_fd=cur)
                except OSError:
                    yield Step("skipped", cur, rel, name, st)
                    continue
                try:
                    entered = _Frame(iter(listing(child, rel)), rel + "/", name, os.fstat(child))
                except BaseException:
                    os.close(child)
                    raise
                cur, old = child, cur
                os.close(old)
                frames.append(entered)
                break
            else:
                frames.pop()
                if frames:
                    up = _parent(cur, frames[-1], top_fd)
                    cur, old = up, cur
                    os.close(old)
                    yield Step("leave", cur, frame.rel[:-1], frame.name, frame.st)
    finally:
        os.close(cur)


def _parent(fd: int, parent: _Frame, top_fd: int) -> int:
    """The directory `parent` again, from its child `fd`: by '..' when that is still it, else down from the top."""
    try:
        up = os.open("..", DIR_FLAGS, dir_fd=fd)
    except OSError:
        up = -1
    if up >= 0:
        st = os.fstat(up)
        if (st.st_dev, st.st_ino) == (parent.st.st_dev, parent.st.st_ino):
            return up
        os.close(up)
    # the child moved while it was walked: what is at the parent's path now (still below the top)
    rel = parent.rel[:-1]
    return open_path(top_fd, rel.split("/") if rel else [], rel)


def walk_size(top_fd: int) -> int:
    """Bytes below `top_fd`: the st_size of each regular file and of each symlink itself."""
    total = 0
    with contextlib.closing(walk(top_fd)) as steps:
        for step in steps:
            if step.event == "entry" and (stat.S_ISREG(step.st.st_mode) or stat.S_ISLNK(step.st.st_mode)):
                total += step.st.st_size
    return total


def _quietly(func, *args, **kwargs) -> None:
    try:
        func(*args, **kwargs)
    except FileNotFoundError:
        pass


def rmtree_at(name: str, dir_fd: int, path: str, attempts: int = 3) -> None:
    """Delete the directory `name` in `dir_fd` and everything below it, never following a link
    (a link is removed itself). Retried when something appeared meanwhile."""
    for attempt in range(attempts):
        try:
            top = open_dir(name, dir_fd, path)
        except NotFound:
            return
        try:
            with contextlib.closing(walk(top)) as steps:
                for step in steps:
                    if step.event == "leave":
                        _quietly(os.rmdir, step.name, dir_fd=step.fd)
                    elif step.event == "skipped" or not stat.S_ISDIR(step.st.st_mode):
                        try:
                            _quietly(os.unlink, step.name, dir_fd=step.fd)
                        except IsADirectoryError:  # a directory now, where a file was listed: next attempt
                            pass
        except OSError as err:
            if err.errno != errno.ENOTEMPTY:
                raise translate(err, path)
        finally:
            os.close(top)
        try:
            os.rmdir(name, dir_fd=dir_fd)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                raise _refine(err, name, dir_fd, path) if err.errno == errno.ENOTDIR else translate(err, path)
