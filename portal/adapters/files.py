"""The local filesystem, where a build's context, workspace and Git checkout live: removal
that never follows a link out of the tree it was given."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def empty(dest: Path) -> None:
    """Remove everything under `dest` without following links (the directory itself stays)."""
    try:
        entries = list(os.scandir(dest))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def remove(path: Path) -> None:
    """Delete `path`, a file, a link (not what it points to) or a whole tree."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)
