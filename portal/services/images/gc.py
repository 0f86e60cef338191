"""Garbage collection of the registry's storage, through Salt, by administrators only.

    found = gc.dry_run(by)        # registry.gc with test=True on the registry node: nothing deleted
    found.run, found.blobs        # the recorded RegistryGcRun, and the digests eligible
    run = gc.start(by)            # the real registry.gc, followed by a worker thread
    gc.get_run(run_id), gc.history()

Both run the Salt state `registry.gc` (salt_states/registry/gc.sls) on the node with the
`registry` role, through salt-api: a dry run (test=True) runs `garbage-collect --dry-run`
while the registry serves; the real run stops the registry, collects and starts it again.
What the collection found comes from its state, `registry-gc-hummer_registry-collected`
(salt_states/_states/hummer_registry.py): the digests, their bytes, and the storage's size
before and after. A real run takes minutes on a large registry: start() records the run
and starts a worker thread (from the POST, never from a GET); the run's page polls it. A
run whose process died stays "running" until GC_RUN_TIMEOUT has passed, then reads as failed.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from portal.adapters import salt as salt_adapter
from portal.extensions import db
from portal.models import ClusterNode, RegistryGcRun, utcnow
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Conflict, NotFound, Unavailable
from portal.services.provisioning.access import SALT_NOT_CONFIGURED, salt, salt_call, salt_configured

log = logging.getLogger(__name__)

GC_SLS = "registry.gc"
COLLECTED = "registry-gc-hummer_registry-collected"
DRY_RUN_TIMEOUT = 240      # seconds: garbage-collect --dry-run reads every manifest (under nginx's 300 s)
GC_RUN_TIMEOUT = 3 * 3600  # seconds: a real run on a large storage
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
MESSAGE_LIMIT = 60000
SHOWN_BLOBS = 200

__all__ = ["GC_SLS", "COLLECTED", "Found", "registry_node", "dry_run", "start", "get_run", "history",
           "running_run", "salt_configured"]


@dataclass
class Found:
    """What one collection found: its run, and the digests (a dry run shows them)."""

    run: RegistryGcRun
    blobs: list[str] = field(default_factory=list)
    storage_before: int = 0
    storage_after: int = 0


def registry_node() -> ClusterNode | None:
    """The cluster node with the registry role (the wizard's Nodes page sets it)."""
    return next((n for n in db.session.scalars(select(ClusterNode).order_by(ClusterNode.minion_id))
                 if "registry" in n.role_list), None)


def _target() -> str:
    """The registry node's minion id, once Salt is configured and a node has the role."""
    if not salt_configured():
        raise Unavailable(SALT_NOT_CONFIGURED)
    node = registry_node()
    if node is None:
        raise Unavailable(_("No node has the registry role: give one on the cluster's Nodes page, "
                            "or run registry.gc from the Salt master (see the README)."))
    return salt_call(salt_adapter.exact_minion_id, node.minion_id)


def _pillar() -> dict:
    """HUMMER_SALT_RUN_PILLAR, which goes into every Salt run's pillar."""
    return dict(current_app.config.get("SALT_RUN_PILLAR") or {})


def _apply(minion: str, test: bool, timeout: int) -> dict:
    """state.apply registry.gc on the minion, waited for; the minion's return."""
    api = salt(timeout=timeout + 60)
    kwarg = {"test": True} if test else {}
    pillar = _pillar()
    if pillar:
        kwarg["pillar"] = pillar
    answer = salt_call(api.local, minion, "state.apply", [GC_SLS], kwarg=kwarg, timeout=timeout)
    if minion not in answer:
        raise Unavailable(_("%(minion)s did not answer; check that its salt-minion runs.", minion=minion))
    return answer[minion]


def _read(ret) -> tuple[salt_adapter.StateOutcome, dict, str]:
    """(the outcome, the collection's changes, why it failed or "")."""
    outcome = salt_adapter.state_outcome(ret)
    if not outcome.ran:
        return outcome, {}, _("Salt could not run registry.gc: %(errors)s", errors=outcome.errors)
    collected = next((s for s in outcome.states if s.state_id == COLLECTED), None)
    if collected is None:
        return outcome, {}, _("registry.gc ran without its collection state %(id)s: is the Salt "
                              "master's tree as old as the portal?", id=COLLECTED)
    failure = outcome.first_failure(causes_first=True)
    reason = f"{failure.state_id}: {failure.comment}" if failure else ""
    return outcome, collected.changes, reason


def _close(run: RegistryGcRun, ok: bool, blobs: int, size: int, message: str) -> None:
    run.status = SUCCEEDED if ok else FAILED
    run.blobs, run.bytes_freed = blobs, size
    run.message = message[:MESSAGE_LIMIT]
    run.finished_at = utcnow()


def _expire_stale() -> None:
    """Runs still "running" past their timeout (a dry run's or a real run's): the process that
    followed them died; mark them failed."""
    now = utcnow()
    dry_cutoff = now - timedelta(seconds=DRY_RUN_TIMEOUT + 120)
    real_cutoff = now - timedelta(seconds=GC_RUN_TIMEOUT + 120)
    stale = select(RegistryGcRun).where(RegistryGcRun.status == RUNNING, or_(
        and_(RegistryGcRun.dry_run.is_(True), RegistryGcRun.started_at < dry_cutoff),
        RegistryGcRun.started_at < real_cutoff))
    for run in db.session.scalars(stale):
        _close(run, False, 0, 0, "The portal lost track of this run (it stopped, or the run did not end in "
                                 "time). Check the registry node: state.apply registry.gc test=True.")
    db.session.commit()


def running_run() -> RegistryGcRun | None:
    _expire_stale()
    return db.session.scalar(select(RegistryGcRun).where(RegistryGcRun.status == RUNNING)
                             .order_by(RegistryGcRun.id.desc()).limit(1))


def history(user, limit: int = 50) -> list[RegistryGcRun]:
    require_admin(user)
    _expire_stale()
    return list(db.session.scalars(select(RegistryGcRun).order_by(RegistryGcRun.id.desc()).limit(limit)))


def get_run(user, run_id: int) -> RegistryGcRun:
    require_admin(user)
    run = db.session.get(RegistryGcRun, run_id)
    if run is None:
        raise NotFound(_("No such garbage collection."))
    return run


def _summary(dry: bool, blobs: int, size: int, before: int, after: int) -> str:
    if dry:
        return f"{blobs} blob(s), {size} bytes, eligible for deletion; nothing was deleted."
    return f"{blobs} blob(s) deleted, {size} bytes freed (storage {before} -> {after} bytes); registry restarted."


def _begin(by: Actor, dry: bool) -> tuple[str, RegistryGcRun]:
    """The registry node, and a new run (added, not committed) once no other one is running."""
    require_admin(by.user)
    minion = _target()
    if running_run() is not None:
        raise Conflict(_("A garbage collection is running; wait for it to end."))
    run = RegistryGcRun(dry_run=dry, status=RUNNING, started_by=by.user.username)
    db.session.add(run)
    return minion, run


def dry_run(by: Actor) -> Found:
    """registry.gc in test mode on the registry node, waited for; recorded as a dry run."""
    minion, run = _begin(by, dry=True)
    db.session.commit()
    try:
        ret = _apply(minion, test=True, timeout=DRY_RUN_TIMEOUT)
    except Unavailable as error:
        _close(run, False, 0, 0, error.message)
        db.session.commit()
        raise
    with force_locale("en"):  # what a run stores is read later by users of any language
        _outcome, changes, reason = _read(ret)
    blobs = list(changes.get("blobs") or [])
    size = int(changes.get("bytes") or 0)
    message = reason or _summary(True, len(blobs), size, 0, 0)
    _close(run, not reason, len(blobs), size, message)
    audit.record(by, "registry.gc_dry_run", "registry", minion, detail=run.message[:500])
    db.session.commit()
    return Found(run, blobs, int(changes.get("storage_before") or 0), int(changes.get("storage_after") or 0))


def start(by: Actor) -> RegistryGcRun:
    """Record a real garbage collection and start it in a worker thread; the run (status running)."""
    minion, run = _begin(by, dry=False)
    audit.record(by, "registry.gc_started", "registry", minion)
    db.session.commit()
    GcWorker(current_app._get_current_object(), run.id, minion).start()
    return run


class GcWorker(threading.Thread):
    """Runs the real registry.gc and ends its RegistryGcRun, whatever happens."""

    def __init__(self, app: Flask, run_id: int, minion: str):
        super().__init__(name=f"hummer-registry-gc-{run_id}", daemon=True)
        self.app, self.run_id, self.minion = app, run_id, minion

    def run(self) -> None:
        # English: what a run stores is read later by users of any language.
        with self.app.app_context(), force_locale("en"):
            try:
                self.collect()
            except Exception as error:  # noqa: BLE001 - a run must never be left "running"
                log.exception("registry gc %s failed", self.run_id)
                db.session.rollback()
                run = db.session.get(RegistryGcRun, self.run_id)
                _close(run, False, 0, 0, getattr(error, "message", None) or f"The run failed: {error}")
                db.session.commit()
            finally:
                db.session.remove()

    def collect(self) -> None:
        ret = _apply(self.minion, test=False, timeout=GC_RUN_TIMEOUT)
        _outcome, changes, reason = _read(ret)
        blobs = len(changes.get("blobs") or [])
        freed = int(changes.get("bytes_freed") or 0)
        message = _summary(False, blobs, freed, int(changes.get("storage_before") or 0),
                           int(changes.get("storage_after") or 0))
        run = db.session.get(RegistryGcRun, self.run_id)
        _close(run, not reason, blobs, freed, f"{reason}\n{message}" if reason and changes else reason or message)
        audit.record(None, "registry.gc_finished", "registry", self.minion, detail=run.message[:500])
        db.session.commit()
