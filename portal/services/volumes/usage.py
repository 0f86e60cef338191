"""How full each volume is: measured in the background, never in a request.

Every portal process's supervisor calls `sweep(app)` at each beat; every LOOK_EVERY seconds at
most it asks the database whether there is work, and starts one scanner
thread (if none is running in the process) when a volume's measure is older than
HUMMER_VOLUME_USAGE_SECONDS, or a trashed volume is older than HUMMER_VOLUME_TRASH_DAYS.
A volume is claimed for a scan with one UPDATE of its usage_at, so two processes never
measure the same volume at once.

Uploads through the portal reserve their size first (`reserve`, one conditional UPDATE), so
two uploads at once cannot both take the last free bytes; `release` gives back what was not
written.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import func, or_, select, update

from portal.adapters import nfs
from portal.extensions import db
from portal.models import Volume, utcnow
from portal.services.volumes import trash
from portal.services.volumes.common import export

log = logging.getLogger(__name__)
_scanner: threading.Thread | None = None
_lock = threading.Lock()
_next_look = 0.0      # monotonic time of this process's next look for due work
LOOK_EVERY = 10.0     # seconds between looks (the supervisor beats every second)


def sweep(app: Flask) -> bool:
    """Start this process's scanner when there is work for it; True when one was started."""
    global _scanner, _next_look
    with _lock:
        if _scanner is not None and _scanner.is_alive() or time.monotonic() < _next_look:
            return False
        _next_look = time.monotonic() + min(LOOK_EVERY, float(app.config["VOLUME_USAGE_SECONDS"]))
        with app.app_context():
            try:
                due = bool(_due_volumes(app, limit=1)) or trash.expired_ids(app, limit=1)
            finally:
                db.session.remove()
        if not due:
            return False
        _scanner = threading.Thread(target=scan, args=(app,), name="hummer-volume-usage", daemon=True)
        _scanner.start()
        return True


def _due_volumes(app: Flask, limit: int | None = None) -> list[int]:
    cutoff = utcnow() - timedelta(seconds=int(app.config["VOLUME_USAGE_SECONDS"]))
    query = select(Volume.id).where(or_(Volume.usage_at.is_(None), Volume.usage_at < cutoff)).order_by(Volume.id)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def scan(app: Flask) -> int:
    """Measure every volume that is due, then empty the expired trash; the number measured."""
    measured = 0
    with app.app_context():
        try:
            for pk in _due_volumes(app):
                measured += measure(app, pk)
            trash.expire(app)
        finally:
            db.session.remove()
    return measured


def measure(app: Flask, pk: int) -> int:
    """Claim the volume (its usage_at moves to now, unless another process did it first),
    measure its directory, store the size. 1 when this process measured it."""
    cutoff = utcnow() - timedelta(seconds=int(app.config["VOLUME_USAGE_SECONDS"]))
    claimed = db.session.execute(
        update(Volume).where(Volume.id == pk, or_(Volume.usage_at.is_(None), Volume.usage_at < cutoff))
        .values(usage_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    if claimed.rowcount != 1:
        return 0
    directory = db.session.scalar(select(Volume.directory).where(Volume.id == pk))
    try:
        used = export().usage(directory)
    except nfs.NfsError as error:
        log.warning("volume %s: usage not measured: %s", directory, error)
        return 0
    db.session.execute(update(Volume).where(Volume.id == pk).values(usage_bytes=used, usage_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.commit()
    return 1


def measure_now(app: Flask, volume: Volume) -> None:
    """Measure one volume at once (the tests, and the CLI), whatever its last measure's age."""
    db.session.execute(update(Volume).where(Volume.id == volume.id).values(usage_at=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    measure(app, volume.id)
    db.session.refresh(volume)


def reserve(volume: Volume, size: int) -> bool:
    """Count `size` bytes as used if they fit in the capacity; False when they do not."""
    used = func.coalesce(Volume.usage_bytes, 0)
    result = db.session.execute(update(Volume).where(Volume.id == volume.id, used + size <= Volume.capacity_bytes)
                                .values(usage_bytes=used + size).execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def release(volume: Volume, size: int) -> None:
    """Give back bytes reserved and not written (a refused or broken upload)."""
    if size <= 0:
        return
    used = func.coalesce(Volume.usage_bytes, 0)
    db.session.execute(update(Volume).where(Volume.id == volume.id)
                       .values(usage_bytes=func.greatest(used - size, 0) if db.engine.dialect.name == "mysql"
                               else func.max(used - size, 0))
                       .execution_options(synchronize_session=False))
    db.session.commit()
