"""Projects and their members."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import validation
from portal.extensions import db
from portal.models import Membership, Project, Role, User
from portal.services import audit, authz
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound


def visible_to(user: User, q: str = ""):
    """A select of the projects the user may see, filtered by name, newest last."""
    stmt = select(Project).order_by(Project.name)
    if not user.is_admin:
        stmt = stmt.join(Membership).where(Membership.user_id == user.id)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(Project.name.like(like) | Project.display_name.like(like))
    return stmt


def count_visible(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(visible_to(user).subquery()))


def _check_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not display_name:
        raise Invalid("display_name", "Display name is required.")
    if len(display_name) > 100:
        raise Invalid("display_name", "Display name must be at most 100 characters.")
    return display_name


def create(name: str, display_name: str, description: str, by: Actor) -> Project:
    """Create a project; its creator becomes its owner."""
    name = name.strip()
    message = validation.project_name(name)
    if message:
        raise Invalid("name", message)
    if db.session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Invalid("name", f"A project named '{name}' already exists.")
    project = Project(name=name, display_name=_check_display_name(display_name or name),
                      description=description.strip())
    project.memberships.append(Membership(user=by.user, role=Role.OWNER.value))
    db.session.add(project)
    audit.record(by, "project.create", "project", name, project=name)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent create of the same name won the race
        db.session.rollback()
        raise Invalid("name", f"A project named '{name}' already exists.")
    return project


def rename(project: Project, display_name: str, description: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    old = project.display_name
    project.display_name = _check_display_name(display_name)
    project.description = description.strip()
    audit.record(by, "project.rename", "project", project.name, project=project.name,
                 detail=f"{old} -> {project.display_name}")
    db.session.commit()


def delete(project: Project, confirm: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    if confirm.strip() != project.name:
        raise Invalid("confirm", f"Type the project name '{project.name}' to confirm.")
    audit.record(by, "project.delete", "project", project.name, project=project.name)
    db.session.delete(project)
    db.session.commit()


# Members ---------------------------------------------------------------------

def members(project: Project) -> list[Membership]:
    return list(db.session.scalars(
        select(Membership).join(User).where(Membership.project_id == project.id)
        .order_by(User.username)))


def get_member(project: Project, member_id: int) -> Membership:
    member = db.session.get(Membership, member_id)
    if member is None or member.project_id != project.id:
        raise NotFound("No such member.")
    return member


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid("role", "Choose a role: " + ", ".join(r.value for r in Role) + ".")


def _owners(project: Project) -> int:
    return db.session.scalar(select(func.count(Membership.id)).where(
        Membership.project_id == project.id, Membership.role == Role.OWNER.value))


def add_member(project: Project, username: str, role: str, by: Actor) -> Membership:
    authz.require(by.user, project, Role.OWNER)
    role_value = _role(role)
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise Invalid("username", f"No user named '{username.strip()}'.")
    if user.disabled:
        raise Invalid("username", f"User '{user.username}' is disabled.")
    exists = db.session.scalar(select(Membership).where(
        Membership.project_id == project.id, Membership.user_id == user.id))
    if exists is not None:
        raise Invalid("username", f"{user.username} is already a member ({exists.role}).")
    member = Membership(project=project, user=user, role=role_value.value)
    db.session.add(member)
    audit.record(by, "member.add", "member", user.username, project=project.name,
                 detail=role_value.value)
    db.session.commit()
    return member


def change_role(project: Project, member: Membership, role: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    new = _role(role)
    if member.role == Role.OWNER.value and new != Role.OWNER and _owners(project) == 1:
        raise Invalid("role", "A project needs at least one owner; make someone else owner first.")
    old, member.role = member.role, new.value
    audit.record(by, "member.role", "member", member.user.username, project=project.name,
                 detail=f"{old} -> {new.value}")
    db.session.commit()


def remove_member(project: Project, member: Membership, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    if member.role == Role.OWNER.value and _owners(project) == 1:
        raise Invalid(None, "A project needs at least one owner; make someone else owner first.")
    audit.record(by, "member.remove", "member", member.user.username, project=project.name)
    db.session.delete(member)
    db.session.commit()
