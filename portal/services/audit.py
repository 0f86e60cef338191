"""The audit trail: every change a user makes is recorded in the same transaction.

Events of a project are keyed by the project's id; its name is kept as text for the record.
When the project is deleted its events lose the id (they stay in the admin's log, by name),
so a later project of the same name does not inherit them.
"""
from __future__ import annotations

from sqlalchemy import select, update

from portal.extensions import db
from portal.models import AuditEvent, Project
from portal.services.context import Actor


def _project(project: Project | str | None) -> Project | None:
    if project is None or isinstance(project, Project):
        return project
    return db.session.scalar(select(Project).where(Project.name == project))


def record(actor: Actor | None, action: str, object_type: str, object_name: str,
           project: Project | str | None = None, detail: str = "") -> AuditEvent:
    """Record an event; `project` is the Project (a name is looked up among live projects)."""
    name = project if isinstance(project, str) else (project.name if project else None)
    event = AuditEvent(
        actor_id=actor.user.id if actor else None,
        actor_name=actor.user.username if actor else "system",
        action=action,
        object_type=object_type,
        object_name=object_name,
        project_name=name,
        project=_project(project),
        detail=detail[:2000],
        remote_addr=(actor.addr if actor else "")[:64],
    )
    db.session.add(event)
    return event


def detach(project: Project) -> None:
    """Before the project's row is deleted: its events keep the name, lose the id (the
    foreign key's ON DELETE SET NULL does the same on MariaDB; SQLite does not enforce it)."""
    db.session.execute(update(AuditEvent).where(AuditEvent.project_id == project.id)
                       .values(project_id=None).execution_options(synchronize_session=False))


def record_anonymous(addr: str, action: str, object_type: str, object_name: str,
                     detail: str = "") -> AuditEvent:
    """An event by someone not logged in (a failed login): no actor, only the address."""
    event = AuditEvent(actor_id=None, actor_name="anonymous", action=action,
                       object_type=object_type, object_name=object_name[:255],
                       detail=detail[:2000], remote_addr=(addr or "")[:64])
    db.session.add(event)
    return event


def query(project: Project | str | None = None, q: str = ""):
    """Events, newest first: all of them (project None) or one live project's."""
    stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if project is not None:
        found = _project(project)
        stmt = stmt.where(AuditEvent.project_id == found.id) if found else stmt.where(False)
    if q:
        # autoescape: '%' and '_' match themselves, not every row
        stmt = stmt.where(
            AuditEvent.action.contains(q, autoescape=True)
            | AuditEvent.actor_name.contains(q, autoescape=True)
            | AuditEvent.object_name.contains(q, autoescape=True)
        )
    return stmt


# Every action the portal records, in words: "<actor> <words> <object>" reads as a sentence.
# tests/test_console.py checks that every action recorded anywhere in portal/ is here.
ACTION_WORDS = {
    "user.login": "logged in",
    "user.login_failed": "failed to log in",
    "user.logout": "logged out",
    "user.locked": "was locked out after failed logins",
    "user.create": "created the user",
    "user.disable": "disabled the user",
    "user.enable": "enabled the user",
    "user.reset_password": "reset the password of",
    "user.change_password": "changed their password",
    "user.logout_everywhere": "logged out everywhere",
    "project.create": "created the project",
    "project.rename": "renamed the project",
    "project.quota": "changed the quota",
    "project.delete": "deleted the project",
    "member.add": "added the member",
    "member.role": "changed the role of",
    "member.remove": "removed the member",
    "plan.create": "created the plan",
    "plan.update": "changed the plan",
    "plan.delete": "deleted the plan",
    "app.deploy": "deployed the app",
    "app.scale": "scaled the app",
    "app.image": "changed the image of",
    "app.rollback": "rolled back the app",
    "app.restart": "restarted the app",
    "app.stop": "stopped the app",
    "app.start": "started the app",
    "app.edit": "edited the app",
    "app.delete": "deleted the app",
    "cluster.settings": "changed the cluster settings",
    "cluster.key_accept": "accepted the key of",
    "cluster.key_reject": "rejected the key of",
    "cluster.roles": "set the roles of",
    "cluster.preflight": "ran the preflight checks",
    "cluster.plan": "started a plan (dry run)",
    "cluster.apply": "started an apply",
    "cluster.add_node": "started adding a node",
    "cluster.remove_node": "started removing a node",
    "cluster.run_lost": "marked a lost run failed",
    "cluster.run_resumed": "followed a run again",
    "cluster.register": "registered the cluster",
    "cluster.ssh_host": "added a host over SSH",
}


def describe(action: str) -> str:
    """An action key in words; an unknown key is shown as it is rather than hidden."""
    return ACTION_WORDS.get(action, action)
