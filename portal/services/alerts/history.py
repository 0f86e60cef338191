"""What the pages show of alerts: what fires now and what fired before, for an app, a node,
or everything a user may see (the dashboard)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from portal.extensions import db
from portal.models import AlertEvent, AlertLease, Project, User
from portal.services import projects

RECENT = 10


def _of_app(project: Project, app: str):
    return select(AlertEvent).where(AlertEvent.project_id == project.id, AlertEvent.app == app)


def _of_node(node: str):
    return select(AlertEvent).where(AlertEvent.project_id.is_(None), AlertEvent.node == node)


def firing_of_app(project: Project, app: str) -> list[AlertEvent]:
    return list(db.session.scalars(_of_app(project, app).where(AlertEvent.resolved_at.is_(None))
                                   .order_by(AlertEvent.firing_since.desc(), AlertEvent.id.desc())))


def firing_of_node(node: str) -> list[AlertEvent]:
    return list(db.session.scalars(_of_node(node).where(AlertEvent.resolved_at.is_(None))
                                   .order_by(AlertEvent.firing_since.desc(), AlertEvent.id.desc())))


def app_history(project: Project, app: str):
    """Every firing of the app's rules, newest first (a select, for a page of it)."""
    return _of_app(project, app).order_by(AlertEvent.firing_since.desc(), AlertEvent.id.desc())


def node_history(node: str, limit: int = RECENT) -> list[AlertEvent]:
    return list(db.session.scalars(_of_node(node).order_by(AlertEvent.firing_since.desc(), AlertEvent.id.desc())
                                   .limit(limit)))


@dataclass
class Board:
    """The dashboard's card: firing now, and the latest resolved."""
    firing: list[AlertEvent] = field(default_factory=list)
    resolved: list[AlertEvent] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)     # project id -> name
    lease: AlertLease | None = None                         # admins: the last evaluation


def board(user: User, limit: int = RECENT) -> Board:
    """Admins see every alert (nodes' too), others those of their projects' apps."""
    stmt = select(AlertEvent)
    if not user.is_admin:
        stmt = stmt.where(AlertEvent.project_id.in_(projects.visible_to(user).with_only_columns(Project.id)))
    firing = list(db.session.scalars(stmt.where(AlertEvent.resolved_at.is_(None))
                                     .order_by(AlertEvent.firing_since.desc(), AlertEvent.id.desc()).limit(50)))
    resolved = list(db.session.scalars(stmt.where(AlertEvent.resolved_at.is_not(None))
                                       .order_by(AlertEvent.resolved_at.desc(), AlertEvent.id.desc()).limit(limit)))
    ids = {e.project_id for e in firing + resolved if e.project_id}
    names = dict(db.session.execute(select(Project.id, Project.name).where(Project.id.in_(ids))).all()) if ids else {}
    from portal.services.alerts.evaluation import lease
    return Board(firing, resolved, names, lease() if user.is_admin else None)
