"""What the volume modules share: finding a project's volume, the export as an adapter, and
the adapter's errors in the user's words."""
from __future__ import annotations

import contextlib

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.adapters import nfs
from portal.extensions import db
from portal.models import Project, Volume
from portal.services.errors import Invalid, NotFound, ServiceError, Unavailable


class OverCapacity(ServiceError):
    """An upload that does not fit in the volume's remaining capacity."""

    status = 413


def export() -> nfs.Export:
    return nfs.Export(current_app.config["NFS_ROOT"])


def volumes_of(project: Project) -> list[Volume]:
    return list(db.session.scalars(select(Volume).where(Volume.project_id == project.id).order_by(Volume.name)))


def names(project: Project) -> list[str]:
    return list(db.session.scalars(select(Volume.name).where(Volume.project_id == project.id)
                                   .order_by(Volume.name)))


def get(project: Project, name: str) -> Volume:
    volume = db.session.scalar(select(Volume).where(Volume.project_id == project.id, Volume.name == name)) \
        if isinstance(name, str) and len(name) <= 63 else None
    if volume is None:
        raise NotFound(_("No volume named %(name)s in this project.", name=str(name)[:63]))
    return volume


def level(volume: Volume) -> str:
    """'ok', 'warn' (80 % or more of the capacity used), 'full' (100 %) or 'unknown' (not measured yet)."""
    if volume.usage_bytes is None:
        return "unknown"
    used = volume.usage_bytes / max(volume.capacity_bytes, 1)
    return "full" if used >= 1 else "warn" if used >= 0.8 else "ok"


def percent(volume: Volume) -> int:
    return min(100, int(100 * (volume.usage_bytes or 0) / max(volume.capacity_bytes, 1)))


@contextlib.contextmanager
def fs_errors(field: str | None = None):
    """The export adapter's errors as the service's, in the user's words."""
    try:
        yield
    except nfs.BadName as error:
        raise Invalid(field, _("“%(name)s” is not a name Hummer accepts: no '/', NUL or line breaks, not '.' "
                               "or '..', at most 255 bytes.", name=_shown(error.path))) from error
    except nfs.Escapes as error:
        raise Invalid(field, _("“%(name)s” is a symbolic link or leads through one; the file browser "
                               "never follows links.", name=_shown(error.path))) from error
    except nfs.NotFound as error:
        raise NotFound(_("“%(name)s” does not exist (any more).", name=_shown(error.path))) from error
    except nfs.Exists as error:
        raise Invalid(field, _("“%(name)s” already exists.", name=_shown(error.path))) from error
    except nfs.NotADirectory as error:
        raise Invalid(field, _("“%(name)s” is not a folder.", name=_shown(error.path))) from error
    except nfs.IsADirectory as error:
        raise Invalid(field, _("“%(name)s” is a folder.", name=_shown(error.path))) from error
    except nfs.OverCapacity as error:
        raise OverCapacity(_("The file does not fit: the volume's capacity would be exceeded.")) from error
    except nfs.Unavailable as error:
        raise Unavailable(_("The NFS export is not usable on the portal host (%(root)s): %(reason)s",
                            root=current_app.config["NFS_ROOT"], reason=str(error))) from error
    except nfs.NfsError as error:
        raise Invalid(field, str(error)) from error


def _shown(path) -> str:
    text = str(path or "").replace("\x00", "\\0").replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."
