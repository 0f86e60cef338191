"""The NFS export directory as mounted on the portal host: each persistent volume is one
directory `<root>/<dir>`; `<root>/.trash` holds deleted volumes until they are purged.

    export = Export("/srv/hummer-volumes")
    export.create("pv-shop-data")                 # Exists, Unavailable (no root)
    export.usage("pv-shop-data")                  # bytes
    name = export.to_trash("pv-shop-data", "20240501T120000")
    export.restore(name, "pv-shop-data"); export.purge(name); export.trash()
    files = export.volume("pv-shop-data")
    files.list("site/img"); files.stat("a.txt"); files.open_read("a.txt")
    files.write("site", "logo.png", stream, limit=free_bytes)    # OverCapacity past the limit
    files.mkdir("site", "css"); files.rename("site", "old", "new"); files.delete("site/css")
    for chunk in files.tar_gz("site"): ...

Users control what is inside a volume (through their containers), so nothing there is
trusted: paths are walked one directory at a time from a directory fd with O_NOFOLLOW, and
each final operation is made relative to its parent's fd (fds.py). A symlink is listed,
renamed, deleted and archived as itself, and never followed; a directory swapped for a
symlink between a check and a use is refused (Escapes). FIFOs and device nodes are never
opened. Volume directory names are plain names (check_name), '.trash' excepted; paths inside
a volume are relative (split_path).

Errors are NfsError (`code`, `path`): BadName, Escapes, NotFound, Exists, NotADirectory,
IsADirectory, OverCapacity (`limit`), Unavailable (`errno`). Messages are plain English.
"""
from portal.adapters.nfs.errors import (
    BadName,
    Escapes,
    Exists,
    IsADirectory,
    NfsError,
    NotADirectory,
    NotFound,
    OverCapacity,
    Unavailable,
    check_name,
    split_path,
)
from portal.adapters.nfs.export import TRASH, Export, TrashEntry, check_volume_name
from portal.adapters.nfs.fds import walk_size
from portal.adapters.nfs.tarstream import TarStream
from portal.adapters.nfs.volume import TEMP_PREFIX, Entry, VolumeDir

__all__ = [
    "NfsError", "BadName", "Escapes", "NotFound", "Exists", "NotADirectory", "IsADirectory", "OverCapacity",
    "Unavailable", "check_name", "split_path", "check_volume_name", "Export", "TrashEntry", "VolumeDir", "Entry",
    "TarStream", "walk_size", "TRASH", "TEMP_PREFIX",
]
