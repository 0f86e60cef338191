"""The file browser of a volume: list, download (a file, or a folder as a tar.gz), upload,
make a folder, rename, delete. Viewers read; developers and up change, and every change is
in the audit log. The export adapter (adapters/nfs) keeps every operation inside the volume's
directory, whatever links its contents hold.

An upload reserves its size in the volume's usage before a byte is written (usage.reserve):
the capacity, which NFS cannot enforce, is enforced here for what comes through the portal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Iterator

from flask_babel import gettext as _

from portal.adapters import nfs
from portal.extensions import db
from portal.models import Project, Role, Volume
from portal.services import audit, authz
from portal.services.context import Actor
from portal.services.errors import Invalid
from portal.services.volumes import usage
from portal.services.volumes.common import OverCapacity, export, fs_errors
from portal.templating import size

SORTS = ("name", "size", "mtime", "kind")


@dataclass
class Listing:
    path: str                      # "" for the volume's root, else "a/b"
    crumbs: list[tuple[str, str]]  # (name, path) from the root down to this folder
    entries: list[nfs.Entry]


def clean(path: str | None) -> str:
    """A relative path as the adapter reads it: 'a/b' ('' for the root); BadName for '..',
    absolute paths and bad names."""
    with fs_errors("path"):
        return "/".join(nfs.split_path(path or ""))


def _dir(volume: Volume) -> nfs.VolumeDir:
    with fs_errors():
        return export().volume(volume.directory)


def listing(user, project: Project, volume: Volume, path: str, sort: str = "name", reverse: bool = False) -> Listing:
    authz.require(user, project, Role.VIEWER)
    path = clean(path)
    with fs_errors("path"):
        entries = _dir(volume).list(path)
    sort = sort if sort in SORTS else "name"
    folders_first = sort in ("name", "kind")
    key = {"name": lambda e: e.name, "size": lambda e: (e.size, e.name), "mtime": lambda e: (e.mtime, e.name),
           "kind": lambda e: (e.kind, e.name)}[sort]
    entries.sort(key=key, reverse=reverse)
    if folders_first:
        entries.sort(key=lambda e: e.kind != "dir")
    crumbs, walked = [], []
    for part in path.split("/") if path else []:
        walked.append(part)
        crumbs.append((part, "/".join(walked)))
    return Listing(path, crumbs, entries)


def stat(user, project: Project, volume: Volume, path: str) -> nfs.Entry:
    authz.require(user, project, Role.VIEWER)
    with fs_errors("path"):
        return _dir(volume).stat(clean(path))


def open_file(user, project: Project, volume: Volume, path: str) -> tuple[BinaryIO, nfs.Entry]:
    authz.require(user, project, Role.VIEWER)
    path = clean(path)
    if not path:
        raise Invalid("path", _("Name a file to download."))
    with fs_errors("path"):
        folder = _dir(volume)
        entry = folder.stat(path)
        return folder.open_read(path), entry


def archive(user, project: Project, volume: Volume, path: str) -> Iterator[bytes]:
    """The folder (or file) as a stream of tar.gz bytes; links are stored as links."""
    authz.require(user, project, Role.VIEWER)
    path = clean(path)
    with fs_errors("path"):
        folder = _dir(volume)
        folder.stat(path)  # refuse a missing path or a link now, before the response starts
        return folder.tar_gz(path)


def upload(by: Actor, project: Project, volume: Volume, path: str, name: str, stream: BinaryIO, length: int,
           overwrite: bool = False) -> int:
    """Write the stream as path/name, at most `length` bytes (the body's Content-Length),
    which must fit in what the volume has left. A broken or refused upload leaves nothing
    under the final name."""
    authz.require(by.user, project, Role.DEVELOPER)
    path = clean(path)
    with fs_errors("name"):
        name = nfs.check_name(name or "")
    if not usage.reserve(volume, length):
        left = max(volume.capacity_bytes - (volume.usage_bytes or 0), 0)
        raise OverCapacity(_("%(name)s (%(size)s) does not fit: %(volume)s has %(left)s left of %(capacity)s.",
                             name=name, size=size(length), volume=volume.name, left=size(left),
                             capacity=volume.capacity))
    written = 0
    try:
        with fs_errors("name"):
            written = _dir(volume).write(path, name, stream, limit=length, overwrite=overwrite)
    finally:
        usage.release(volume, length - written)
    target = f"{path}/{name}" if path else name
    audit.record(by, "volume.upload", "volume", volume.name, project=project, detail=f"{target} ({written} bytes)")
    db.session.commit()
    return written


def _change(by: Actor, project: Project, volume: Volume, action: str, detail: str) -> None:
    audit.record(by, action, "volume", volume.name, project=project, detail=detail)
    db.session.commit()


def mkdir(by: Actor, project: Project, volume: Volume, path: str, name: str) -> str:
    authz.require(by.user, project, Role.DEVELOPER)
    path = clean(path)
    with fs_errors("name"):
        _dir(volume).mkdir(path, name or "")
    target = f"{path}/{name}" if path else name
    _change(by, project, volume, "volume.mkdir", target)
    return target


def rename(by: Actor, project: Project, volume: Volume, path: str, new: str) -> str:
    """Rename the entry at `path` to `new` in the same folder."""
    authz.require(by.user, project, Role.DEVELOPER)
    path = clean(path)
    if not path:
        raise Invalid("path", _("The volume's top folder cannot be renamed."))
    parent, _slash, old = path.rpartition("/")
    with fs_errors("new"):
        _dir(volume).rename(parent, old, new or "")
    _change(by, project, volume, "volume.rename", f"{path} -> {new}")
    return parent


def delete(by: Actor, project: Project, volume: Volume, path: str) -> str:
    """Delete a file, a link (never what it points to) or a folder with all it holds."""
    authz.require(by.user, project, Role.DEVELOPER)
    path = clean(path)
    if not path:
        raise Invalid("path", _("The volume's top folder cannot be deleted; delete the volume instead."))
    with fs_errors("path"):
        _dir(volume).delete(path)
    _change(by, project, volume, "volume.delete_file", path)
    return path.rpartition("/")[0]
