"""Who may do what in a project. The single place where roles are compared."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.labels import label
from portal.models import Membership, Project, Role, User
from portal.services.context import Actor
from portal.services.errors import Forbidden, NotFound


def role_in(who: User | Actor, project: Project) -> Role | None:
    """The user's role in the project; admins count as owners everywhere.

    `who` may be an Actor: one acting through an API token gets at most the token's role
    ceiling, and no role at all (the project does not exist for them) outside its scope."""
    user, token = (who.user, who.token) if isinstance(who, Actor) else (who, None)
    if user.is_admin:
        role = Role.OWNER
    else:
        found = db.session.scalar(
            select(Membership.role).where(
                Membership.project_id == project.id, Membership.user_id == user.id
            )
        )
        role = Role(found) if found else None
    if token is None or role is None:
        return role
    if not token.all_projects and project.id not in {p.id for p in token.projects}:
        return None
    ceiling = Role(token.ceiling)
    return role if ceiling.at_least(role) else ceiling


def require(user: User | Actor, project: Project, need: Role) -> Role:
    """The user's role, or NotFound for strangers and Forbidden for too weak a role.

    A non-member learns nothing about the project: it does not exist for them.
    """
    role = role_in(user, project)
    if role is None:
        raise NotFound(_("No such project."))
    if not role.at_least(need):
        raise Forbidden(_("This needs the %(role)s role in project %(project)s.", role=label(need.value),
                          project=project.name))
    return role


def require_admin(user: User | Actor) -> None:
    if isinstance(user, Actor):
        if user.token is not None:  # a token never carries the administrator's powers
            raise Forbidden(_("Only an administrator may do this."))
        user = user.user
    if not user.is_admin:
        raise Forbidden(_("Only an administrator may do this."))


def get_project(user: User | Actor, name: str, need: Role = Role.VIEWER) -> tuple[Project, Role]:
    project = db.session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(_("No such project."))
    return project, require(user, project, need)
