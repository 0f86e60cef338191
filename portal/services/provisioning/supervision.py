"""Who follows a run: one RunWorker thread per run, and one Supervisor thread per portal process.

The worker that follows a run (an orchestration's Follower, or the Enroller adding a host
over SSH) writes the run's heartbeat (ProvisioningRun.heartbeat_at) every few seconds from
a thread of its own, and only while the heartbeat is still the one it wrote last: that
value is the worker's claim on the run. It ends the run with one UPDATE that holds only
while that claim does (finish), so a worker that was taken for dead never overwrites what
another process has written since.

Each portal process runs one Supervisor (started by the first request a process serves,
not in tests unless they ask: SALT_SUPERVISE). Every beat interval it looks for going
runs whose heartbeat is older than HUMMER_SALT_RUN_STALE_SECONDS (their process died: a
restart, an OOM kill, a deploy) and claims each with one atomic UPDATE ... WHERE the
heartbeat is stale, so that when several processes or hosts try at once exactly one
wins. The winner follows an orchestration again (a resuming Follower, which never starts
the orchestration twice) or marks failed a run nobody can pick up again.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import or_, select, update

from portal.extensions import db
from portal.models import ACTIVE_RUN_STATUSES, ProvisioningRun, RunStatus, utcnow
from portal.services import audit

log = logging.getLogger(__name__)

ACTIVE = ACTIVE_RUN_STATUSES
RESUMED = "cluster.run_resumed"
LOST = "cluster.run_lost"
LOST_STARTING = "The portal stopped before Salt accepted the run; start it again."
LOST_OTHER = ("The portal stopped during the run, and a run of this kind cannot be followed again "
              "(its salt-ssh ran in the process that stopped): add the host again on the Nodes page.")
MESSAGE_LIMIT = 60000


def heartbeat_now() -> datetime:
    """Now, to the second: MariaDB's DATETIME keeps no fraction, and a worker compares its own beat."""
    return utcnow().replace(microsecond=0)


def beat_interval(app: Flask) -> float:
    """Seconds between heartbeats (and between the supervisor's looks): a few per stale period, at most 10 s."""
    return max(0.5, min(10.0, app.config["SALT_RUN_STALE_SECONDS"] / 4))


def stale_cutoff(app: Flask) -> datetime:
    return heartbeat_now() - timedelta(seconds=app.config["SALT_RUN_STALE_SECONDS"])


def _held_by(beats) -> object:
    """The run's heartbeat is one of `beats` (None: never written)."""
    table = ProvisioningRun.__table__
    values = {b for b in beats if b is not None}
    held = table.c.heartbeat_at.in_(values) if values else None
    if None in beats:
        held = table.c.heartbeat_at.is_(None) if held is None else or_(held, table.c.heartbeat_at.is_(None))
    return held


def claim(run_pk: int, cutoff: datetime) -> datetime | None:
    """Take a run whose heartbeat is older than cutoff; the new heartbeat if this process got it.

    One UPDATE, outside the caller's transaction: the database evaluates its WHERE on
    the newest row (SQLite under its write lock, InnoDB under the row lock), so when
    several workers or hosts try at once exactly one changes the row.
    """
    now = heartbeat_now()
    table = ProvisioningRun.__table__
    with db.engine.begin() as conn:
        claimed = conn.execute(update(table).where(
            table.c.id == run_pk, table.c.status.in_(ACTIVE),
            or_(table.c.heartbeat_at.is_(None), table.c.heartbeat_at < cutoff),
        ).values(heartbeat_at=now)).rowcount == 1
    return now if claimed else None


def close(run_pk: int, beats, ok: bool, message: str) -> bool:
    """End the run in the session's transaction if it is going and its heartbeat is one of
    `beats` (the caller's claim); False (nothing written) when another process holds it."""
    table = ProvisioningRun.__table__
    done = db.session.execute(update(table).where(
        table.c.id == run_pk, table.c.status.in_(ACTIVE), _held_by(beats),
    ).values(status=RunStatus.SUCCEEDED if ok else RunStatus.FAILED, message=message[:MESSAGE_LIMIT],
             finished_at=utcnow())).rowcount == 1
    run = db.session.get(ProvisioningRun, run_pk)
    if run is not None:
        db.session.expire(run, ["status", "message", "finished_at", "heartbeat_at"])
    return done


class RunWorker(threading.Thread):
    """Does one run's work in a thread with an app context, keeps its heartbeat, and ends it
    with an ownership-checked finish. Subclasses implement work(), and may add to the finish
    (closing: before the run's row is ended, in its transaction; closed: after)."""

    thread_prefix = "hummer-run"

    def __init__(self, app: Flask, run_pk: int, *, beat_at: datetime | None = None):
        super().__init__(name=f"{self.thread_prefix}-{run_pk}", daemon=True)
        self.app, self.run_pk = app, run_pk
        self.beat_at = beat_at  # the heartbeat this worker wrote last: its claim on the run
        # Held while a heartbeat is written and committed, and while finish() ends the run on
        # the heartbeat it knows: else a beat committed between the two would make this
        # worker's own finish look like another process's claim.
        self.beating = threading.Lock()
        self.done = threading.Event()
        self.superseded = threading.Event()  # another process follows the run now

    # What subclasses do -------------------------------------------------------------

    def work(self) -> None:
        raise NotImplementedError

    def lost_message(self, error: Exception) -> str:
        return f"The portal lost track of the run: {error}"

    def closing(self, run: ProvisioningRun, ok: bool, message: str) -> str:
        """Before the run ends (same transaction): the message to store."""
        return message

    def closed(self, run: ProvisioningRun, ok: bool) -> None:
        """After the run's row was ended by this worker, before the commit."""

    def released(self) -> None:
        """When the thread ends, whatever happened (drop secrets here)."""

    # The thread ---------------------------------------------------------------------

    def run(self) -> None:
        # English: what a run stores (its message) is read later by users of any language.
        with self.app.app_context(), force_locale("en"):
            beater = threading.Thread(target=self._beat_loop, args=(db.engine,), daemon=True,
                                      name=f"{self.name}-heartbeat")
            beater.start()
            try:
                self.work()
            except Exception as error:  # noqa: BLE001 - a run must never be left "running"
                log.exception("run %s: %s failed", self.run_pk, type(self).__name__)
                db.session.rollback()
                if not self.superseded.is_set():
                    self.finish(False, self.lost_message(error))
            finally:
                self.released()
                self.done.set()
                beater.join(30)
                db.session.remove()

    def run_row(self) -> ProvisioningRun:
        return db.session.get(ProvisioningRun, self.run_pk)

    def finish(self, ok: bool, message: str) -> bool:
        """End the run, if it is still this worker's; False (nothing written) if another process took it."""
        run = self.run_row()
        message = self.closing(run, ok, message)
        with self.beating:
            closed = close(self.run_pk, (self.beat_at,), ok, message)
        if not closed:
            db.session.rollback()
            log.warning("run %s: another process holds the run now; its end is left to that one", self.run_pk)
            self.superseded.set()
            return False
        self.closed(run, ok)
        db.session.commit()
        return True

    # The heartbeat ------------------------------------------------------------------
    # A thread of its own, so that it beats while the worker waits (on salt-api, a silent
    # event stream, a salt-ssh call of many minutes).

    def _beat_loop(self, engine) -> None:
        while not self.done.wait(beat_interval(self.app)):
            try:
                if not self.beat(engine):
                    return
            except Exception:  # noqa: BLE001 - the database may be away a moment: beat again later
                log.warning("run %s: heartbeat not written", self.run_pk, exc_info=True)

    def beat(self, engine) -> bool:
        """Write the heartbeat while the run is going and still this worker's; False when not."""
        table = ProvisioningRun.__table__
        with self.beating:
            now = heartbeat_now()
            with engine.begin() as conn:
                written = conn.execute(update(table).where(
                    table.c.id == self.run_pk, table.c.status.in_(ACTIVE),
                    _held_by((self.beat_at,))).values(heartbeat_at=now)).rowcount == 1
                row = None if written else conn.execute(select(table.c.status, table.c.heartbeat_at)
                                                        .where(table.c.id == self.run_pk)).first()
            if written:  # committed: now it is this worker's claim
                self.beat_at = now
                return True
        if row is None or row.status not in ACTIVE:
            return False  # the run is over
        if row.heartbeat_at == self.beat_at:
            return True
        # This process was taken for dead (it did not beat for the stale period) and
        # another one follows the run now: leave it to that one.
        log.warning("run %s: another process follows the run now; this one stops", self.run_pk)
        self.superseded.set()
        return False


# The supervisor -------------------------------------------------------------------

class Supervisor(threading.Thread):
    """One per portal process: claims the runs nobody follows any more, and follows them."""

    def __init__(self, app: Flask):
        super().__init__(name="hummer-run-supervisor", daemon=True)
        self.app = app
        self.stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # noqa: BLE001 - the database may be away a moment: look again later
                log.warning("run supervisor: looking for runs nobody follows failed", exc_info=True)
            for other in _other_sweeps:
                try:
                    other(self.app)
                except Exception:  # noqa: BLE001 - as above
                    log.warning("run supervisor: %s failed", getattr(other, "__qualname__", other), exc_info=True)
            if self.stopped.wait(beat_interval(self.app)):
                return

    def stop(self) -> None:
        self.stopped.set()

    def sweep(self) -> list[int]:
        """Claim every going run whose heartbeat is stale; the ids of those this process took."""
        with self.app.app_context():
            try:
                cutoff = stale_cutoff(self.app)
                stale = list(db.session.scalars(select(ProvisioningRun.id).where(
                    ProvisioningRun.status.in_(ACTIVE),
                    or_(ProvisioningRun.heartbeat_at.is_(None), ProvisioningRun.heartbeat_at < cutoff))))
                db.session.commit()
                return [pk for pk in stale if self.take(pk, cutoff)]
            finally:
                db.session.remove()

    def take(self, run_pk: int, cutoff: datetime) -> bool:
        from portal.services.provisioning import orchestration  # it builds on this module
        run = db.session.get(ProvisioningRun, run_pk)
        resumable = bool(run.jid) and run.kind in orchestration.ORCHESTRATIONS
        if resumable and not self.app.config.get("SALT_API_URL"):
            return False  # this process cannot ask Salt; one that can will take the run
        last_beat = run.heartbeat_at
        beat = claim(run_pk, cutoff)
        if beat is None:
            return False
        db.session.commit()  # end the read transaction: read the run as it is now
        db.session.refresh(run)
        if run.status not in ACTIVE:
            return False
        where = f"{socket.gethostname()} pid {os.getpid()}"
        if not resumable:  # nothing a Follower can pick up
            message = LOST_STARTING if run.kind in orchestration.ORCHESTRATIONS else LOST_OTHER
            if not close(run_pk, (beat,), False, message):
                db.session.rollback()
                return False
            audit.record(None, LOST, "run", run.run_id,
                         detail=f"jid {run.jid or '-'}, last heartbeat {last_beat or 'never'}; "
                                f"marked failed by {where}")
            db.session.commit()
            return True
        audit.record(None, RESUMED, "run", run.run_id,
                     detail=f"jid {run.jid}, last heartbeat {last_beat or 'never'}; followed again by {where}")
        db.session.commit()
        log.warning("run %s: nobody followed it since %s; following it again", run_pk, last_beat)
        orchestration.resume(self.app, run_pk, beat)
        return True


# Other background work that the same thread looks after at each beat (the builds' queue:
# services/builds/queue.sweep), each a function of the app.
_other_sweeps: list = []


def also_sweep(function) -> None:
    """Have every process's supervisor call function(app) at each beat, after the runs."""
    if function not in _other_sweeps:
        _other_sweeps.append(function)


_supervisors: dict[int, Supervisor] = {}
_supervisors_lock = threading.Lock()


def supervising(app: Flask) -> bool:
    """SALT_SUPERVISE, or by default: every process but the tests' (a test starts one when it asks)."""
    wanted = app.config.get("SALT_SUPERVISE")
    return (not app.testing) if wanted is None else bool(wanted)


def ensure_supervisor(app: Flask) -> Supervisor | None:
    """Start this process's supervisor if it has none (after a fork, the child has none)."""
    if not supervising(app):
        return None
    pid = os.getpid()
    with _supervisors_lock:
        current = _supervisors.get(pid)
        if current is None or not current.is_alive():
            current = _supervisors[pid] = Supervisor(app)
            current.start()
        return current


def stop_supervisor() -> None:
    """Stop this process's supervisor (tests that started one)."""
    with _supervisors_lock:
        current = _supervisors.pop(os.getpid(), None)
    if current is not None:
        current.stop()
        current.join(30)


def init_app(app: Flask) -> None:
    """Start the process's supervisor with the first request it serves (a gunicorn worker's,
    after the fork; never in a CLI command)."""
    def start_supervisor():
        if os.getpid() not in _supervisors:
            ensure_supervisor(app)

    app.before_request(start_supervisor)
