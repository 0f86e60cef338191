"""Projects and their members."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from portal import validation
from portal.adapters import kube as kube_adapter
from portal.adapters.kube import objects
from portal.extensions import db
from portal.labels import label
from portal.models import Membership, Project, ResourcePlan, Role, User, api_token_project
from portal.services import audit, authz, kube_access
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound, ServiceError
from portal.services.images import pullsecrets


def visible_to(who: User | Actor, q: str = ""):
    """A select of the projects the user may see, filtered by name, in name order; through
    an API token (an Actor with one), only those in the token's scope."""
    user, token = (who.user, who.token) if isinstance(who, Actor) else (who, None)
    stmt = select(Project).order_by(Project.name)
    if token is not None and not token.all_projects:
        stmt = stmt.where(Project.id.in_(select(api_token_project.c.project_id)
                                         .where(api_token_project.c.token_id == token.id)))
    if not user.is_admin:
        stmt = stmt.join(Membership).where(Membership.user_id == user.id)
    if q:
        q = q.strip()  # autoescape: '%' and '_' match themselves, not every row
        stmt = stmt.where(Project.name.contains(q, autoescape=True)
                          | Project.display_name.contains(q, autoescape=True))
    return stmt


def count_visible(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(visible_to(user).subquery()))


def _check_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if not display_name:
        raise Invalid("display_name", _("Display name is required."))
    if len(display_name) > 100:
        raise Invalid("display_name", _("Display name must be at most 100 characters."))
    return display_name


def create(name: str, display_name: str, description: str, by: Actor) -> Project:
    """Create a project; its creator becomes its owner.

    With a cluster configured, the project's namespace (with its ResourceQuota and
    LimitRange) is created before the row is committed; if that fails, nothing is
    kept on either side and the message says why.
    """
    name = name.strip()
    message = validation.project_name(name)
    if message:
        raise Invalid("name", message)
    if db.session.scalar(select(Project.id).where(Project.name == name)) is not None:
        raise Invalid("name", _("A project named '%(name)s' already exists.", name=name))
    project = Project(name=name, display_name=_check_display_name(display_name or name),
                      description=description.strip())
    project.memberships.append(Membership(user=by.user, role=Role.OWNER.value))
    db.session.add(project)
    audit.record(by, "project.create", "project", name, project=project)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent create of the same name won the race
        db.session.rollback()
        raise Invalid("name", _("A project named '%(name)s' already exists.", name=name))
    created_namespace = False
    try:
        created_namespace = provision(project)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _drop_namespace(name, created_namespace)
        raise Invalid("name", _("A project named '%(name)s' already exists.", name=name))
    except Invalid:
        db.session.rollback()
        raise
    except BaseException:
        db.session.rollback()
        _drop_namespace(name, created_namespace)
        raise
    return project


def _drop_namespace(name: str, created: bool) -> None:
    if created:
        try:
            kube_access.kube().delete("namespaces", None, name)
        except kube_adapter.KubeError:
            pass


def default_plan() -> ResourcePlan | None:
    return db.session.scalar(select(ResourcePlan).where(ResourcePlan.is_default.is_(True)))


def provision(project: Project) -> bool:
    """Create the project's namespace, ResourceQuota, LimitRange and, when the registry needs
    a login, its pull Secret (when a cluster is configured). True when this call created the
    namespace. Raises Invalid with the reason."""
    if not kube_access.configured():
        return False
    name = project.name
    try:
        kube = kube_access.kube()
    except ServiceError as error:
        raise Invalid(None, _("The project was not created: %(reason)s", reason=error.message))
    created = False
    try:
        result = kube.create("namespaces", None, objects.namespace(name), exist_ok=True)
        created = bool(result)
        if not created:
            existing = kube.get("namespaces", None, name)
            if existing.get("status", {}).get("phase") == "Terminating":
                raise Invalid("name", _("The namespace '%(name)s' is still being deleted in the "
                                        "cluster; try again in a moment.", name=name))
            if (existing["metadata"].get("labels") or {}).get(kube_adapter.PROJECT_LABEL) != name:
                raise Invalid("name", _("A namespace named '%(name)s' already exists in the cluster "
                                        "and is not Hummer's; choose another name.", name=name))
        _apply_quota(kube, project)
        plan = default_plan()
        if plan is not None:
            kube.create("limitranges", name, objects.limit_range(
                name, plan.cpu_request, plan.memory_request, plan.cpu_limit, plan.memory_limit),
                exist_ok=True)
        pullsecrets.ensure(kube, name)
    except kube_adapter.KubeError as error:
        _drop_namespace(name, created)
        raise Invalid(None, _("The project was not created: the cluster answered “%(reason)s”.", reason=error.message))
    except Invalid:
        _drop_namespace(name, created)
        raise
    return created


QUOTA_KEYS = ("requests.cpu", "requests.memory", "pods", "requests.storage", "persistentvolumeclaims")
CLAIMS_MAX = 10_000


def _apply_quota(kube, project: Project) -> None:
    """The project's ResourceQuota: none while the project has no quota (an empty one
    would only clutter `kubectl get quota`), deleted again when the quota is cleared."""
    body = objects.resource_quota(project.name, project.quota_cpu, project.quota_memory,
                                  project.quota_pods, project.quota_storage, project.quota_claims)
    hard = body["spec"]["hard"]
    if not hard:
        kube.delete("resourcequotas", project.name, objects.QUOTA_NAME)
        return
    try:
        kube.patch("resourcequotas", project.name, objects.QUOTA_NAME,
                   {"spec": {"hard": {k: hard.get(k) for k in QUOTA_KEYS}}})
    except kube_adapter.NotFound:
        kube.create("resourcequotas", project.name, body, exist_ok=True)


def set_quota(project: Project, cpu: str, memory: str, pods: str, by: Actor, storage: str = "",
              claims: str = "") -> None:
    """The project's quota (blank = no limit), applied to its ResourceQuota at once."""
    authz.require(by.user, project, Role.OWNER)
    cpu, memory, pods, storage, claims = (v.strip() for v in (cpu, memory, pods, storage, claims))
    for field, value, kind in (("quota_cpu", cpu, "cpu"), ("quota_memory", memory, "memory")):
        if value:
            message = validation.quantity(value, kind)
            if message:
                raise Invalid(field, message)
    if pods:
        message = validation.pods(pods)
        if message:
            raise Invalid("quota_pods", message)
    if storage:
        parsed = validation.parse_quantity(storage)
        if parsed is None or parsed <= 0 or parsed != parsed.to_integral_value() \
                or parsed > validation.MEMORY_MAX:
            raise Invalid("quota_storage", _("Storage is a size such as 100Gi or 1Ti (up to 16Pi), or blank."))
    if claims and (not re.fullmatch(r"[0-9]{1,5}", claims, re.ASCII) or not 1 <= int(claims) <= CLAIMS_MAX):
        raise Invalid("quota_claims", _("Volumes must be a whole number from 1 to %(max)d, or blank.",
                                        max=CLAIMS_MAX))
    project.quota_cpu, project.quota_memory, project.quota_pods = cpu, memory, pods
    project.quota_storage, project.quota_claims = storage, claims
    audit.record(by, "project.quota", "project", project.name, project=project,
                 detail=f"cpu={cpu or '-'} memory={memory or '-'} pods={pods or '-'} "
                        f"storage={storage or '-'} volumes={claims or '-'}")
    if kube_access.configured():
        try:
            _apply_quota(kube_access.kube(), project)
        except kube_adapter.KubeError as error:
            db.session.rollback()
            raise Invalid(None, _("The quota was not changed: the cluster answered “%(reason)s”.",
                                   reason=error.message))
    db.session.commit()


def contents(project: Project) -> list[str]:
    """What deleting the project takes (for the confirmation page): its apps and claims in
    the cluster, and its volumes, whose files go to the trash."""
    from portal.services import volumes
    own = volumes.names(project)
    gone = [_("volume %(name)s (its files go to the trash)", name=v) for v in own]
    if not kube_access.configured():
        return gone
    kube = kube_access.kube()
    try:
        apps = sorted(a.name for a in kube.apps(project.name))
        claims = kube.volume_claims(project.name)
    except kube_adapter.KubeError as error:
        raise kube_access.unavailable(error)
    return ([_("app %(name)s", name=a) for a in apps] + gone
            + [_("volume claim %(name)s", name=c) for c in sorted(claims) if c not in own])


def rename(project: Project, display_name: str, description: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    old = project.display_name
    project.display_name = _check_display_name(display_name)
    project.description = description.strip()
    audit.record(by, "project.rename", "project", project.name, project=project,
                 detail=f"{old} -> {project.display_name}")
    db.session.commit()


def delete(project: Project, confirm: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    if confirm.strip() != project.name:
        raise Invalid("confirm", _("Type the project name '%(name)s' to confirm.", name=project.name))
    if kube_access.configured():
        # The namespace goes first: its deletion takes every app, service and claim
        # with it. If the cluster cannot be reached the project stays, so nothing
        # is left running without a project in front of it.
        try:
            kube = kube_access.kube()
            kube.delete("namespaces", None, project.name, propagation="Background")
            kube.forget_namespace(project.name)
        except kube_adapter.KubeError as error:
            raise Invalid(None, _("The project was not deleted: the cluster answered “%(reason)s”.",
                                   reason=error.message))
        except Exception as error:
            raise Invalid(None, _("The project was not deleted: %(reason)s",
                                   reason=getattr(error, "message", error)))
    from portal.services import volumes
    volumes.release_project(by, project, kube_access.kube() if kube_access.configured() else None)
    from portal.services import alerts
    alerts.forget_project(project)
    audit.record(by, "project.delete", "project", project.name, project=project)
    audit.detach(project)
    db.session.delete(project)
    db.session.commit()


# Members ---------------------------------------------------------------------

def members(project: Project) -> list[Membership]:
    """The project's memberships with their users, in one query (no query per member)."""
    return list(db.session.scalars(
        select(Membership).join(Membership.user).options(contains_eager(Membership.user))
        .where(Membership.project_id == project.id).order_by(User.username)))


def get_member(project: Project, member_id: int) -> Membership:
    member = db.session.get(Membership, member_id) if validation.row_id(member_id) else None
    if member is None or member.project_id != project.id:
        raise NotFound(_("No such member."))
    return member


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise Invalid("role", _("Choose a role: %(roles)s.", roles=", ".join(r.value for r in Role)))


def _owners(project: Project) -> int:
    return len(db.session.scalars(select(Membership.id).where(
        Membership.project_id == project.id, Membership.role == Role.OWNER.value)
        .with_for_update()).all())


def _lock_members(project: Project, member: Membership, by: Actor) -> tuple[Project, Membership]:
    """Serialise changes to one project's owners: "is this the last owner?" and the change
    itself then run in one transaction that holds the project row's lock.

    The request has only read so far; that read-only transaction ends here, so what follows
    sees what a competing change committed. The no-op UPDATE takes the row lock (MariaDB)
    or the database's write lock (SQLite) and waits for a competitor to commit first.
    Then the actor's role and the member are read again: either may have just changed.
    """
    project_id, member_id = project.id, member.id
    db.session.rollback()
    locked = db.session.execute(update(Project.__table__).where(Project.__table__.c.id == project_id)
                                .values(id=Project.__table__.c.id))
    project = db.session.get(Project, project_id)
    if locked.rowcount == 0 or project is None:
        db.session.rollback()
        raise NotFound(_("No such project."))
    try:
        authz.require(by.user, project, Role.OWNER)
    except ServiceError:
        db.session.rollback()
        raise
    member = db.session.get(Membership, member_id)
    if member is None:
        db.session.rollback()
        raise NotFound(_("No such member."))
    return project, member


def add_member(project: Project, username: str, role: str, by: Actor) -> Membership:
    authz.require(by.user, project, Role.OWNER)
    role_value = _role(role)
    from portal.services import users
    user = users.find(username)
    if user is None:
        raise Invalid("username", _("No user named '%(name)s'.", name=username.strip()[:64]))
    if user.disabled:
        raise Invalid("username", _("User '%(name)s' is disabled.", name=user.username))
    exists = db.session.scalar(select(Membership).where(
        Membership.project_id == project.id, Membership.user_id == user.id))
    if exists is not None:
        raise Invalid("username", _("%(name)s is already a member (%(role)s).", name=user.username,
                                      role=label(exists.role)))
    member = Membership(project=project, user=user, role=role_value.value)
    db.session.add(member)
    audit.record(by, "member.add", "member", user.username, project=project,
                 detail=role_value.value)
    try:
        db.session.commit()
    except IntegrityError:  # an identical add at the same moment won the race
        db.session.rollback()
        exists = db.session.scalar(select(Membership).where(
            Membership.project_id == project.id, Membership.user_id == user.id))
        raise Invalid("username", _("%(name)s is already a member (%(role)s).", name=user.username,
                                    role=label(exists.role)) if exists
                      else _("%(name)s is already a member.", name=user.username))
    return member


def change_role(project: Project, member: Membership, role: str, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    new = _role(role)
    project, member = _lock_members(project, member, by)
    if member.role == Role.OWNER.value and new != Role.OWNER and _owners(project) == 1:
        db.session.rollback()
        raise Invalid("role", _("A project needs at least one owner; make someone else owner first."))
    old, member.role = member.role, new.value
    audit.record(by, "member.role", "member", member.user.username, project=project,
                 detail=f"{old} -> {new.value}")
    db.session.commit()


def remove_member(project: Project, member: Membership, by: Actor) -> None:
    authz.require(by.user, project, Role.OWNER)
    project, member = _lock_members(project, member, by)
    if member.role == Role.OWNER.value and _owners(project) == 1:
        db.session.rollback()
        raise Invalid(None, _("A project needs at least one owner; make someone else owner first."))
    audit.record(by, "member.remove", "member", member.user.username, project=project)
    db.session.delete(member)
    db.session.commit()
