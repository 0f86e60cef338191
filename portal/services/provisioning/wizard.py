"""Where the cluster wizard stands: each step done or not, and the first one left (the current)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, ClusterSettings, ProvisioningRun, RunStatus
from portal.services.provisioning.settings import role_problems


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    endpoint: str
    anchor: str
    done: bool
    needs_salt: bool


def _last(action: str) -> AuditEvent | None:
    return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)
                             .order_by(AuditEvent.id.desc()).limit(1))


def _succeeded(kind: str, test: bool | None = None) -> bool:
    query = select(ProvisioningRun.id).where(ProvisioningRun.kind == kind,
                                             ProvisioningRun.status == RunStatus.SUCCEEDED)
    if test is not None:
        query = query.where(ProvisioningRun.test.is_(test))
    return db.session.scalar(query.limit(1)) is not None


def steps() -> list[Step]:
    """The six steps in order, each with whether it is done."""
    settings_saved = _last("cluster.settings") is not None
    roles_ok = settings_saved and not role_problems()
    checked = _last("cluster.preflight")
    changed = _last("cluster.roles")
    applied = _succeeded("apply", test=False) or (bool(current_app.config.get("SALT_DRY_RUN"))
                                                  and _succeeded("apply"))
    planned = applied or _succeeded("plan")
    passed = checked is not None and checked.detail.startswith("all passed") \
        and (changed is None or checked.id > changed.id)
    preflight_ok = roles_ok and (passed or planned)
    registered = db.session.scalar(select(ClusterSettings.registered_at).where(
        ClusterSettings.registered_at.is_not(None)).limit(1)) is not None
    return [
        Step("settings", _("1 Cluster"), "cluster.settings", "", settings_saved, False),
        Step("nodes", _("2 Nodes"), "cluster.nodes", "", roles_ok, True),
        Step("preflight", _("3 Preflight"), "cluster.preflight", "", preflight_ok, True),
        Step("plan", _("4 Plan"), "cluster.index", "runs", planned, True),
        Step("apply", _("5 Apply"), "cluster.index", "runs", applied, True),
        Step("register", _("6 App management"), "cluster.index", "registration", registered, True),
    ]


def current(all_steps: list[Step] | None = None) -> str:
    """The first step not done yet (the last one when all are)."""
    all_steps = steps() if all_steps is None else all_steps
    return next((s.key for s in all_steps if not s.done), all_steps[-1].key)
