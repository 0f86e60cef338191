"""Deleted volumes' files: kept under <export>/.trash for HUMMER_VOLUME_TRASH_DAYS, listed on
an admin page, restorable into their project (a new PersistentVolume and claim), purged by
hand or when they expire (the usage scanner's pass)."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from portal.extensions import db
from portal.models import Project, TrashedVolume, Volume, utcnow
from portal.services import audit, authz
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound
from portal.services.volumes.common import export, fs_errors

log = logging.getLogger(__name__)


def entries() -> list[TrashedVolume]:
    return list(db.session.scalars(select(TrashedVolume).order_by(TrashedVolume.deleted_at.desc())))


def expires_at(entry: TrashedVolume):
    return entry.deleted_at + timedelta(days=int(current_app.config["VOLUME_TRASH_DAYS"]))


def _get(pk) -> TrashedVolume:
    entry = db.session.get(TrashedVolume, pk) if isinstance(pk, int) else None
    if entry is None:
        raise NotFound(_("That volume is not in the trash (any more)."))
    return entry


def restore(by: Actor, pk: int) -> Volume:
    """The files back into a volume of the same name in the same project (created anew)."""
    authz.require_admin(by.user)
    entry = _get(pk)
    project = db.session.scalar(select(Project).where(Project.name == entry.project_name))
    if project is None:
        raise Invalid(None, _("Project %(project)s no longer exists; the files can only be purged.",
                              project=entry.project_name))
    if db.session.scalar(select(Volume.id).where(Volume.project_id == project.id, Volume.name == entry.name)):
        raise Invalid(None, _("Project %(project)s has a volume named %(name)s again; delete or rename that "
                              "one first.", project=project.name, name=entry.name))
    from portal.services.volumes import lifecycle
    volume = lifecycle.create(by, project, entry.name, entry.capacity, entry.access_mode, entry.description)
    try:
        with fs_errors():
            ex = export()
            ex.remove(volume.directory)               # the new, empty directory
            ex.restore(entry.trash_name, volume.directory)
    except Exception:
        log.warning("trash: restoring %s failed", entry.trash_name, exc_info=True)
        lifecycle.delete(by, project, volume.name, volume.name)
        raise
    audit.record(by, "volume.restore", "volume", volume.name, project=project, detail=entry.trash_name)
    db.session.delete(entry)
    db.session.commit()
    return volume


def purge(by: Actor, pk: int) -> None:
    authz.require_admin(by.user)
    entry = _get(pk)
    with fs_errors():
        export().purge(entry.trash_name)
    audit.record(by, "volume.purge", "volume", entry.name, project=entry.project_name, detail=entry.trash_name)
    db.session.delete(entry)
    db.session.commit()


def expired_ids(app: Flask, limit: int | None = None) -> list[int]:
    cutoff = utcnow() - timedelta(days=int(app.config["VOLUME_TRASH_DAYS"]))
    query = select(TrashedVolume.id).where(TrashedVolume.deleted_at < cutoff).order_by(TrashedVolume.id)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def expire(app: Flask) -> int:
    """Purge what has been in the trash too long; each entry is claimed by deleting its row."""
    done = 0
    for pk in expired_ids(app):
        entry = db.session.get(TrashedVolume, pk)
        if entry is None:
            continue
        trash_name, name, project_name = entry.trash_name, entry.name, entry.project_name
        claimed = db.session.execute(sql_delete(TrashedVolume).where(TrashedVolume.id == pk)
                                     .execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            db.session.rollback()
            continue
        audit.record(None, "volume.expired", "volume", name, project=project_name, detail=trash_name)
        db.session.commit()
        try:
            export().purge(trash_name)
        except Exception:  # noqa: BLE001 - the row is gone; the files are logged for the operator
            log.warning("trash: purging %s failed", trash_name, exc_info=True)
        done += 1
    return done
