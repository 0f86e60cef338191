"""A build's context on disk: an uploaded archive unpacked with no way out of its directory,
and the Dockerfile or Git sub-directory a user names inside it.

    unpack(stream, dest, limit)            # tar, tar.gz (bz2, xz) or zip, told by content
    dockerfile = dockerfile_in(dest, "docker/Dockerfile")
    source = subdir_in(checkout, "services/web")

unpack() refuses, with Invalid("context", reason): a file that is none of those archives; a
member with an absolute name or `..`; a symbolic link that leads outside the context (also
through other links, checked on the files as unpacked) or a hard link to outside; a device
or FIFO; a member under a symbolic link; more than MAX_MEMBERS members; more than `limit`
bytes, counted as they are written (a zip bomb stops at the limit, whatever its headers
say). On a refusal `dest` is left empty. Files are written through directory descriptors
opened without following links, so that no member can write through a link, whatever the
order of the members. A tar is read as it arrives; a zip (which must be read from its end)
is first copied, up to `limit` bytes, into a temporary file beside `dest`.
"""
from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from flask_babel import gettext as _

from portal.adapters import files
from portal.services.errors import Invalid

__all__ = ["unpack", "dockerfile_in", "subdir_in", "MAX_MEMBERS", "CHUNK"]

CHUNK = 1 << 20           # bytes per read of the upload, and per write of a member
MAX_MEMBERS = 10_000
PATH_MAX = 1024           # characters of a Dockerfile or sub-directory path
LINK_MAX = 4096           # bytes of a symbolic link's target in a zip
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first entry, or an empty zip's end record
NAME_SHOWN = 200


def unpack(stream: BinaryIO, dest: Path, limit: int) -> None:
    """Unpack the archive `stream` into the empty directory `dest` (see the module docstring)."""
    dest = Path(dest)
    head = _read_exactly(stream, 4)
    if not head:
        raise Invalid("context", _("The file is empty."))
    with _Writer(dest, limit) as writer:  # refuses a `dest` that is not an empty directory
        try:
            if head in ZIP_MAGIC:
                _unzip(_Prefixed(head, stream, limit), dest, writer)
            else:
                _untar(_Prefixed(head, stream, limit), writer)
            writer.check_links()
        except BaseException:
            files.empty(dest)
            raise


def dockerfile_in(context: Path, path: str) -> Path:
    """The Dockerfile `path` (default "Dockerfile") names in `context`, as a resolved path."""
    path = path or "Dockerfile"
    found = _inside(Path(context), path, "dockerfile",
                    _("%(path)s is outside the build context.", path=path[:NAME_SHOWN]))
    if not found.is_file():
        raise Invalid("dockerfile", _("No Dockerfile at %(path)s in the context.", path=path[:NAME_SHOWN]))
    return found


def subdir_in(checkout: Path, path: str) -> Path:
    """The directory `path` names in the Git checkout (the checkout itself for "" or "."), resolved."""
    path = path or "."
    found = _inside(Path(checkout), path, "git_path",
                    _("%(path)s is outside the repository.", path=path[:NAME_SHOWN]))
    if not found.is_dir():
        raise Invalid("git_path", _("The repository has no directory %(path)s.", path=path[:NAME_SHOWN]))
    return found


def _inside(root: Path, path: str, field: str, outside: str) -> Path:
    if not isinstance(path, str) or len(path) > PATH_MAX or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise Invalid(field, _("The path is too long or holds control characters."))
    if path.startswith("/"):
        raise Invalid(field, outside)
    root = root.resolve()
    found = (root / path).resolve()  # following links: where buildah would read
    if found != root and root not in found.parents:
        raise Invalid(field, outside)
    return found


# --------------------------------------------------------------------------- reading

class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> Invalid:
    return Invalid("context", _("The build context is larger than the limit of %(limit)s bytes unpacked.",
                                limit=limit))


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class _Prefixed:
    """The upload with its first bytes (read to tell the format) put back; more than `limit`
    bytes of it is _TooLarge."""

    def __init__(self, head: bytes, stream: BinaryIO, limit: int):
        self.head, self.stream, self.limit, self.read_bytes = head, stream, limit, len(head)

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data, self.head = self.head, b""
            return data
        data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise _TooLarge()
        return data


def _untar(upload: _Prefixed, writer: "_Writer") -> None:
    try:
        with tarfile.open(fileobj=upload, mode="r|*", bufsize=CHUNK) as tar:
            for info in tar:
                writer.count()
                name = writer.name(info.name)
                if name is None:
                    continue
                if info.isdir():
                    writer.directory(name, info.mode)
                elif info.isreg():
                    writer.file(name, info.mode, tar.extractfile(info), info.size)
                elif info.issym():
                    writer.symlink(name, info.linkname)
                elif info.islnk():
                    writer.hardlink(name, info.linkname)
                elif info.ischr() or info.isblk() or info.isfifo():
                    raise Invalid("context", _("The archive holds a device or a FIFO (%(name)s); a build context "
                                               "holds files, directories and links.", name=name[:NAME_SHOWN]))
                else:
                    raise Invalid("context", _("The archive holds %(name)s, of a kind a build context cannot "
                                               "hold.", name=name[:NAME_SHOWN]))
    except _TooLarge:
        raise _too_large(writer.limit) from None
    except (tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the disk, not the archive (gzip's BadGzipFile is an OSError without errno)
        if writer.members:
            raise Invalid("context", _("The archive is cut short or damaged: upload the whole file again.")) from None
        raise Invalid("context", _("This is not a tar, tar.gz or zip archive.")) from None


def _unzip(upload: _Prefixed, dest: Path, writer: "_Writer") -> None:
    """Copy the upload (up to the limit) beside `dest`, then unpack it as a zip."""
    with tempfile.TemporaryFile(dir=dest.parent) as spool:
        try:
            while chunk := upload.read(CHUNK):
                spool.write(chunk)
        except _TooLarge:
            raise _too_large(writer.limit) from None
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                members = archive.infolist()
                if len(members) > MAX_MEMBERS:
                    raise writer.too_many()
                for info in members:
                    _unzip_member(archive, info, writer)
        except _TooLarge:
            raise _too_large(writer.limit) from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError,
                RuntimeError) as error:
            if isinstance(error, RuntimeError) and "encrypted" in str(error).lower():
                raise Invalid("context", _("The zip archive is encrypted.")) from None
            if isinstance(error, RuntimeError):
                raise
            raise Invalid("context", _("The zip archive is damaged or uses a compression this portal cannot "
                                       "read.")) from None


def _unzip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, writer: "_Writer") -> None:
    writer.count()
    name = writer.name(info.filename)
    if name is None:
        return
    if info.flag_bits & 0x1:
        raise Invalid("context", _("The zip archive is encrypted."))
    mode = info.external_attr >> 16 if info.create_system == 3 else 0  # Unix attributes
    kind = stat.S_IFMT(mode)
    if info.is_dir() or kind == stat.S_IFDIR:
        writer.directory(name, mode or 0o755)
    elif kind == stat.S_IFLNK:
        with archive.open(info) as member:
            target = member.read(LINK_MAX + 1)
        if len(target) > LINK_MAX:
            raise Invalid("context", _("The link %(name)s is too long.", name=name[:NAME_SHOWN]))
        writer.symlink(name, target.decode("utf-8", errors="surrogateescape"))
    elif kind in (0, stat.S_IFREG):
        with archive.open(info) as member:
            writer.file(name, mode or 0o644, member, None)
    else:
        raise Invalid("context", _("The archive holds a device or a FIFO (%(name)s); a build context "
                                   "holds files, directories and links.", name=name[:NAME_SHOWN]))


# --------------------------------------------------------------------------- writing

class _Writer:
    """Members written under `dest`, through directory descriptors opened with O_NOFOLLOW."""

    def __init__(self, dest: Path, limit: int):
        self.dest, self.limit = dest, limit
        self.members = 0
        self.written = 0
        self.links: list[str] = []

    def __enter__(self) -> "_Writer":
        self.root = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        if os.listdir(self.root):
            os.close(self.root)
            raise ValueError(f"{self.dest} is not empty")
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.root)

    def count(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise self.too_many()

    def too_many(self) -> Invalid:
        return Invalid("context", _("The archive holds more than %(count)s files and directories.",
                                    count=MAX_MEMBERS))

    def name(self, raw: str) -> str | None:
        """The member's name, normalized; None for the context's root; Invalid if unsafe."""
        if raw.startswith("/") or "\\" in raw or "\x00" in raw:
            raise Invalid("context", _("The archive names a file with an absolute or unusual path: %(name)s.",
                                       name=raw[:NAME_SHOWN]))
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise Invalid("context", _("The archive names a file outside itself: %(name)s.", name=raw[:NAME_SHOWN]))
        return "/".join(parts) or None

    def _parent(self, name: str, create: bool = True) -> tuple[int, str]:
        """A descriptor of `name`'s directory (made as needed, never through a link), and its base name."""
        *dirs, base = name.split("/")
        fd = os.dup(self.root)
        try:
            for part in dirs:
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except (NotADirectoryError, OSError) as error:
                    if isinstance(error, FileNotFoundError) and not create:
                        raise
                    raise Invalid("context", _("The archive puts %(name)s under a link or a file; a build "
                                               "context cannot be unpacked through a link.",
                                               name=name[:NAME_SHOWN])) from None
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd, base

    def _replace(self, fd: int, base: str, name: str) -> None:
        """Make room for a member named twice (a later one wins, as tar does), but never over a directory."""
        try:
            st = os.lstat(base, dir_fd=fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise Invalid("context", _("The archive holds %(name)s both as a directory and as a file.",
                                       name=name[:NAME_SHOWN]))
        os.unlink(base, dir_fd=fd)

    def directory(self, name: str, mode: int) -> None:
        fd, base = self._parent(name)
        try:
            try:
                os.mkdir(base, (mode & 0o777) | 0o700, dir_fd=fd)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(base, dir_fd=fd).st_mode):
                    raise Invalid("context", _("The archive holds %(name)s both as a directory and as a file.",
                                               name=name[:NAME_SHOWN])) from None
        finally:
            os.close(fd)

    def file(self, name: str, mode: int, source, size: int | None) -> None:
        if size is not None and self.written + size > self.limit:
            raise _TooLarge()
        fd, base = self._parent(name)
        try:
            self._replace(fd, base, name)
            out = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, (mode & 0o777) | 0o600,
                          dir_fd=fd)
        finally:
            os.close(fd)
        with open(out, "wb") as target:
            while chunk := source.read(CHUNK):
                self.written += len(chunk)
                if self.written > self.limit:
                    raise _TooLarge()
                target.write(chunk)

    def symlink(self, name: str, target: str) -> None:
        if not target or target.startswith("/") or "\x00" in target:
            raise Invalid("context", _("The link %(name)s points outside the build context (%(target)s).",
                                       name=name[:NAME_SHOWN], target=target[:NAME_SHOWN]))
        normal = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if normal == ".." or normal.startswith("../"):
            raise Invalid("context", _("The link %(name)s points outside the build context (%(target)s).",
                                       name=name[:NAME_SHOWN], target=target[:NAME_SHOWN]))
        fd, base = self._parent(name)
        try:
            self._replace(fd, base, name)
            os.symlink(target, base, dir_fd=fd)
        finally:
            os.close(fd)
        self.links.append(name)

    def hardlink(self, name: str, target: str) -> None:
        try:
            source = self.name(target)
        except Invalid:
            source = None
        if source is None:
            raise Invalid("context", _("The hard link %(name)s points outside the build context (%(target)s).",
                                       name=name[:NAME_SHOWN], target=target[:NAME_SHOWN]))
        try:
            source_fd, source_base = self._parent(source, create=False)
        except FileNotFoundError:
            source_fd, source_base = None, ""
        try:
            if source_fd is None or not stat.S_ISREG(os.lstat(source_base, dir_fd=source_fd).st_mode):
                raise FileNotFoundError
            fd, base = self._parent(name)
            try:
                self._replace(fd, base, name)
                os.link(source_base, base, src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)
        except FileNotFoundError:
            raise Invalid("context", _("The hard link %(name)s points to %(target)s, which is not a file "
                                       "before it in the archive.", name=name[:NAME_SHOWN],
                                       target=target[:NAME_SHOWN])) from None
        finally:
            if source_fd is not None:
                os.close(source_fd)

    def check_links(self) -> None:
        """Every link, followed as the kernel would (through other links), stays in the context."""
        root = os.path.realpath(self.dest)
        for name in self.links:
            real = os.path.realpath(os.path.join(self.dest, name))
            if real != root and not real.startswith(root + os.sep):
                raise Invalid("context", _("The link %(name)s points outside the build context (%(target)s).",
                                           name=name[:NAME_SHOWN], target=os.readlink(os.path.join(self.dest, name))
                                           [:NAME_SHOWN]))
