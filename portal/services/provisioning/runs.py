"""Provisioning runs: start one (plan, apply, add or remove a node), retry one, and read their
progress and history. The work itself runs in a RunWorker thread (orchestration.py,
enrolment.py); supervision.py says who follows a run."""
from __future__ import annotations

import uuid

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.labels import label
from portal.models import ACTIVE_RUN_STATUSES, AuditEvent, ProvisioningRun, RunKind, RunStatus, RunStep
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound
from portal.services.provisioning import orchestration
from portal.services.provisioning.access import salt
from portal.services.provisioning.orchestration import ORCHESTRATIONS
from portal.services.provisioning.settings import node, role_problems, write_pillar
from portal.services.provisioning.supervision import RESUMED, heartbeat_now

__all__ = ["RunStatus", "RunKind", "ORCHESTRATIONS", "runs", "get_run", "active_run", "start_run", "retry",
           "progress", "was_resumed", "new_run_id"]


def new_run_id() -> str:
    return f"hummer-{uuid.uuid4().hex[:12]}"


def runs(limit: int = 20) -> list[ProvisioningRun]:
    return list(db.session.scalars(
        select(ProvisioningRun).order_by(ProvisioningRun.id.desc()).limit(limit)))


def get_run(run_pk: int) -> ProvisioningRun:
    run = db.session.get(ProvisioningRun, run_pk)
    if run is None:
        raise NotFound(_("No such run."))
    return run


def active_run() -> ProvisioningRun | None:
    return db.session.scalar(select(ProvisioningRun).where(
        ProvisioningRun.status.in_(ACTIVE_RUN_STATUSES)).limit(1))


def start_run(kind: str, by: Actor, target: str = "", skip_steps: list[str] | None = None) -> ProvisioningRun:
    """Start a plan (test=True), apply, add_node or remove_node run; return it at once."""
    require_admin(by.user)
    if kind not in ORCHESTRATIONS:
        raise Invalid("kind", _("Unknown run kind '%(kind)s'.", kind=kind))
    kind = RunKind(kind)
    if kind in (RunKind.PLAN, RunKind.APPLY):
        problems = role_problems()
        if problems:
            raise Invalid("roles", " ".join(problems))
    if kind in (RunKind.ADD_NODE, RunKind.REMOVE_NODE):
        node(target)  # must be a cluster node
    busy = active_run()
    if busy is not None:
        raise Invalid(None, _("Run #%(num)d (%(kind)s) is still going; wait for it to finish.", num=busy.id,
                              kind=label(busy.kind)))
    api = salt()
    write_pillar()
    test = kind == RunKind.PLAN or bool(current_app.config.get("SALT_DRY_RUN"))
    run = ProvisioningRun(run_id=new_run_id(), kind=kind.value, orchestration=ORCHESTRATIONS[kind], target=target,
                          test=test, started_by=by.user.username, heartbeat_at=heartbeat_now())
    db.session.add(run)
    audit.record(by, f"cluster.{kind}", "run", run.run_id, detail=target)
    db.session.commit()
    pillar = {"hummer_run_id": run.run_id}
    if target:
        pillar["hummer_node"] = target
    if skip_steps:
        pillar["hummer_skip_steps"] = list(skip_steps)
    pillar.update(current_app.config.get("SALT_RUN_PILLAR") or {})
    orchestration.start(current_app._get_current_object(), run.id, api, pillar, beat_at=run.heartbeat_at)
    return run


def retry(run: ProvisioningRun, by: Actor) -> ProvisioningRun:
    """Run the same orchestration again from the failed step: steps that succeeded are skipped."""
    if run.status != RunStatus.FAILED:
        raise Invalid(None, _("Only a failed run can be retried."))
    if run.kind not in ORCHESTRATIONS:
        raise Invalid(None, _("A host added over SSH is tried again by adding it again on the Nodes "
                              "page (its key or password is not kept)."))
    done = sorted({s.step for s in run.steps if s.status == RunStatus.SUCCEEDED}
                  - {s.step for s in run.steps if s.status != RunStatus.SUCCEEDED})
    return start_run(run.kind, by, target=run.target, skip_steps=done)


def progress(run: ProvisioningRun) -> dict:
    """Figures for the progress bar and the per-node table."""
    # In run order: Salt's jids are timestamps, and rows a resumed run filled in at the end
    # belong where their step ran.
    steps = sorted(run.steps, key=lambda s: (s.jid or "~", s.id))
    finished = sum(s.status != RunStatus.RUNNING for s in steps)
    total = max(run.units_total, len(steps), 1)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        percent = 100
    else:
        partial = sum(min(s.states_done, 50) / 50 for s in steps if s.status == RunStatus.RUNNING)
        percent = min(99, int(100 * (finished + partial) / total))
    by_node: dict[str, list[RunStep]] = {}
    for s in steps:
        by_node.setdefault(s.minion, []).append(s)
    current = next((s for s in reversed(steps) if s.status == RunStatus.RUNNING), None)
    failures = [s for s in steps if s.status == RunStatus.FAILED]
    return {"percent": percent, "finished": finished, "total": total, "by_node": by_node,
            "current": current, "failures": failures, "resumed": was_resumed(run)}


def was_resumed(run: ProvisioningRun) -> bool:
    return db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.at >= run.started_at, AuditEvent.action == RESUMED,
        AuditEvent.object_type == "run", AuditEvent.object_name == run.run_id).limit(1)) is not None
