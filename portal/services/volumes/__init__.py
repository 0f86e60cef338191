"""Persistent volumes on NFS: a project's volumes, their files, their usage and the trash.

    volumes.create(actor, project, "data", "10Gi")        # directory + PersistentVolume + claim
    volumes.resize(actor, project, "data", "20Gi")        # a note when the quota keeps more
    volumes.delete(actor, project, "data", confirm="data")  # refused while an app mounts it
    volumes.files.listing(user, project, volume, "logs")  # the file browser (files.py)
    volumes.trash.restore(actor, 3)                       # an admin brings files back

The directory lives under HUMMER_NFS_ROOT, the NFS export as the portal host mounts it; the
PersistentVolume names the NFS server and export the cluster wizard registered (or
HUMMER_NFS_SERVER). NFS cannot enforce a capacity: uploads through the portal stop at it,
and the usage (measured in the background, usage.py) shows red beyond it.
"""
from __future__ import annotations

from portal.services.provisioning import supervision
from portal.services.volumes import files, trash, usage
from portal.services.volumes.common import OverCapacity, get, level, names, percent, volumes_of
from portal.services.volumes.lifecycle import (
    ACCESS_MODES,
    claim_phases,
    create,
    delete,
    mounted_by,
    release_project,
    resize,
)

__all__ = ["ACCESS_MODES", "OverCapacity", "claim_phases", "create", "delete", "files", "get", "init_app",
           "level", "mounted_by", "names", "percent", "release_project", "resize", "trash", "usage",
           "volumes_of"]


def init_app(app) -> None:
    supervision.also_sweep(usage.sweep)
