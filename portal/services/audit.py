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


def record_anonymous(addr: str, action: str, object_type: str, object_name: str,
                     detail: str = "") -> AuditEvent:
    """An event by someone not logged in (a failed login): no actor, only the address."""
    event = AuditEvent(actor_id=None, actor_name="anonymous", action=action,
                       object_type=object_type, object_name=object_name[:255],
                       detail=detail[:2000], remote_addr=(addr or "")[:64])
    db.session.add(event)
    return event


def query(project: str | None = None, q: str = ""):
    stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if project is not None:
        stmt = stmt.where(AuditEvent.project_name == project)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            AuditEvent.action.like(like)
            | AuditEvent.actor_name.like(like)
            | AuditEvent.object_name.like(like)
        )
    return stmt
