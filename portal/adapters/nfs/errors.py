"""The NFS adapter's errors, and the names and paths it accepts.

Every error is an NfsError with a short `code` (for the service layer to translate) and the
`path` it is about; messages are plain English for logs.
"""
from __future__ import annotations

import errno

__all__ = ["NfsError", "BadName", "Escapes", "NotFound", "Exists", "NotADirectory", "IsADirectory",
           "OverCapacity", "Unavailable", "check_name", "split_path", "translate", "NAME_MAX"]

NAME_MAX = 255            # bytes of one name, UTF-8
FORBIDDEN = ("/", "\0", "\n", "\r")


class NfsError(Exception):
    code = "nfs"

    def __init__(self, message: str, path: str = ""):
        super().__init__(f"{message}: {path!r}" if path else message)
        self.message = message
        self.path = path


class BadName(NfsError):
    """A name or path refused before anything was touched."""
    code = "bad_name"


class Escapes(NfsError):
    """A symlink in the way, or something that is not a plain directory or file where one is needed."""
    code = "escapes"


class NotFound(NfsError):
    code = "not_found"


class Exists(NfsError):
    code = "exists"


class NotADirectory(NfsError):
    code = "not_a_directory"


class IsADirectory(NfsError):
    code = "is_a_directory"


class OverCapacity(NfsError):
    """More bytes arrived than the caller's limit."""
    code = "over_capacity"

    def __init__(self, message: str, path: str = "", limit: int = 0):
        super().__init__(message, path)
        self.limit = limit


class Unavailable(NfsError):
    """The export is not there, or the filesystem failed (EIO, ENOSPC, EACCES...): `errno` says which."""
    code = "unavailable"

    def __init__(self, message: str, path: str = "", errno: int | None = None):
        super().__init__(message, path)
        self.errno = errno


def check_name(name: str) -> str:
    """`name` if it is one plain entry name, else BadName."""
    if not isinstance(name, str) or name in ("", ".", ".."):
        raise BadName("not an entry name", str(name))
    if any(c in name for c in FORBIDDEN):
        raise BadName("a name may not hold '/', NUL or a line break", name)
    try:
        encoded = name.encode("utf-8", "surrogateescape")  # names listed from disk may not be UTF-8
    except UnicodeEncodeError:
        raise BadName("a name that cannot be encoded", name)
    if len(encoded) > NAME_MAX:
        raise BadName(f"a name longer than {NAME_MAX} bytes", name)
    return name


def split_path(path: str) -> list[str]:
    """The names of a relative path inside a volume ('' is the volume itself; one trailing '/' is fine)."""
    if not isinstance(path, str):
        raise BadName("not a path", str(path))
    if path.startswith("/"):
        raise BadName("an absolute path", path)
    if path.endswith("/"):
        path = path[:-1]
    if path == "":
        return []
    parts = path.split("/")
    for part in parts:
        try:
            check_name(part)
        except BadName as err:
            raise BadName(err.message, path)
    return parts


_BY_ERRNO: dict[int, tuple[type[NfsError], str]] = {
    errno.ENOENT: (NotFound, "no such file or directory"),
    errno.EEXIST: (Exists, "already exists"),
    errno.ENOTEMPTY: (Exists, "directory not empty"),
    errno.ELOOP: (Escapes, "a symbolic link is in the way"),
    errno.ENOTDIR: (NotADirectory, "not a directory"),
    errno.EISDIR: (IsADirectory, "is a directory"),
    errno.ENAMETOOLONG: (BadName, "name too long"),
}


def translate(err: OSError, path: str) -> NfsError:
    """The NfsError for an OSError about `path` (anything unexpected is Unavailable, with its errno)."""
    known = _BY_ERRNO.get(err.errno or 0)
    if known is not None:
        kind, message = known
        return kind(message, path)
    return Unavailable(err.strerror or str(err), path, errno=err.errno)
