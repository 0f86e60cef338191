"""Who may do what in a project. The single place where roles are compared."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from portal.extensions import db
from portal.labels import label
from portal.models import Membership, Project, Role, User
from portal.services.errors import Forbidden, NotFound


def role_in(user: User, project: Project) -> Role | None:
    """The user's role in the project; admins count as owners everywhere."""
    if user.is_admin:
        return Role.OWNER
    role = db.session.scalar(
        select(Membership.role).where(
            Membership.project_id == project.id, Membership.user_id == user.id
        )
    )
    return Role(role) if role else None


def require(user: User, project: Project, need: Role) -> Role:
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


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden(_("Only an administrator may do this."))


def get_project(user: User, name: str, need: Role = Role.VIEWER) -> tuple[Project, Role]:
    project = db.session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(_("No such project."))
    return project, require(user, project, need)
