"""The audit trail: every change a user makes is recorded in the same transaction."""
from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from portal.services.context import Actor


def record(actor: Actor | None, action: str, object_type: str, object_name: str,
           project: str | None = None, detail: str = "") -> AuditEvent:
    event = AuditEvent(
        actor_id=actor.user.id if actor else None,
        actor_name=actor.user.username if actor else "system",
        action=action,
        object_type=object_type,
        object_name=object_name,
        project_name=project,
        detail=detail[:2000],
        remote_addr=(actor.addr if actor else "")[:64],
    )
    db.session.add(event)
    return event


def query(project: str | None = None, q: str = ""):
    stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if project is not None:
        stmt = stmt.where(AuditEvent.project_name == project)
    if q:
        # autoescape: '%' and '_' match themselves, not every row
        stmt = stmt.where(
            AuditEvent.action.contains(q, autoescape=True)
            | AuditEvent.actor_name.contains(q, autoescape=True)
            | AuditEvent.object_name.contains(q, autoescape=True)
        )
    return stmt
