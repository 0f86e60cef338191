"""The audit trail: every change a user makes is recorded in the same transaction.

Events of a project are keyed by the project's id; its name is kept as text for the record.
When the project is deleted its events lose the id (they stay in the admin's log, by name),
so a later project of the same name does not inherit them.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
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
        via_token=actor.token.name if actor and actor.token is not None else None,
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
            | AuditEvent.via_token.contains(q, autoescape=True)
        )
    return stmt


# Every action the portal records, in words: "<actor> <words> <object>" reads as a sentence.
# The keys are the codes stored in AuditEvent.action (never translated); the words are
# shown in the reader's language. tests/test_console.py checks that every action recorded
# anywhere in portal/ is here.
ACTION_WORDS = {
    "user.login": _l("logged in"),
    "user.login_failed": _l("failed to log in"),
    "user.logout": _l("logged out"),
    "user.locked": _l("was locked out after failed logins"),
    "user.create": _l("created the user"),
    "user.disable": _l("disabled the user"),
    "user.enable": _l("enabled the user"),
    "user.reset_password": _l("reset the password of"),
    "user.change_password": _l("changed their password"),
    "user.logout_everywhere": _l("logged out everywhere"),
    "token.create": _l("created the API token"),
    "token.revoke": _l("revoked the API token"),
    "token.revoke_all": _l("lost every API token with the change to the account"),
    "project.create": _l("created the project"),
    "project.rename": _l("renamed the project"),
    "project.quota": _l("changed the quota"),
    "project.delete": _l("deleted the project"),
    "member.add": _l("added the member"),
    "member.role": _l("changed the role of"),
    "member.remove": _l("removed the member"),
    "plan.create": _l("created the plan"),
    "plan.update": _l("changed the plan"),
    "plan.delete": _l("deleted the plan"),
    "app.deploy": _l("deployed the app"),
    "app.scale": _l("scaled the app"),
    "app.image": _l("changed the image of"),
    "app.rollback": _l("rolled back the app"),
    "app.restart": _l("restarted the app"),
    "app.stop": _l("stopped the app"),
    "app.start": _l("started the app"),
    "app.edit": _l("edited the app"),
    "app.delete": _l("deleted the app"),
    "image.delete": _l("deleted the image"),
    "image.push": _l("pushed the image"),
    "cluster.settings": _l("changed the cluster settings"),
    "cluster.key_accept": _l("accepted the key of"),
    "cluster.key_reject": _l("rejected the key of"),
    "cluster.roles": _l("set the roles of"),
    "cluster.preflight": _l("ran the preflight checks"),
    "cluster.plan": _l("started a plan (dry run)"),
    "cluster.apply": _l("started an apply"),
    "cluster.add_node": _l("started adding a node"),
    "cluster.remove_node": _l("started removing a node"),
    "cluster.run_lost": _l("marked a lost run failed"),
    "cluster.run_resumed": _l("followed a run again"),
    "cluster.register": _l("registered the cluster"),
    "cluster.ssh_host": _l("added a host over SSH"),
    "image.retention": _l("changed the image retention of"),
    "image.prune": _l("removed old image tags of"),
    "image.public": _l("made the image public:"),
    "image.private": _l("made the image private again:"),
    "registry.gc_dry_run": _l("ran a garbage collection dry run on"),
    "registry.gc_started": _l("started a garbage collection on"),
    "registry.gc_finished": _l("finished a garbage collection on"),
    "project.pull_secret": _l("updated the registry pull Secret"),
    "build.queued": _l("started a build of"),
    "build.pushed": _l("built and pushed"),
    "build.failed": _l("failed to build"),
    "build.cancelled": _l("cancelled the build of"),
    "build.cancel": _l("asked to cancel the build of"),
    "build.lost": _l("marked a lost build failed:"),
    "volume.create": _l("created the volume"),
    "volume.resize": _l("resized the volume"),
    "volume.delete": _l("deleted the volume"),
    "volume.restore": _l("restored from the trash the volume"),
    "volume.purge": _l("purged from the trash the volume"),
    "volume.expired": _l("emptied from the trash (expired) the volume"),
    "volume.upload": _l("uploaded a file into the volume"),
    "volume.mkdir": _l("made a folder in the volume"),
    "volume.rename": _l("renamed a file in the volume"),
    "volume.delete_file": _l("deleted a file from the volume"),
    "alert.create": _l("added an alert rule on"),
    "alert.update": _l("changed an alert rule on"),
    "alert.delete": _l("deleted an alert rule on"),
}


def describe(action: str) -> str:
    """An action code in words, in the reader's language; an unknown code is shown as it is
    rather than hidden."""
    words = ACTION_WORDS.get(action)
    return str(words) if words is not None else action
