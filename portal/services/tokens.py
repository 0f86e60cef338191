"""Personal access tokens for the automation API.

The secret is "hmr_" and 32 random bytes (token_urlsafe); only its SHA-256 is stored. A
secret with 256 bits of entropy cannot be guessed nor brute-forced from its hash, so a
slow password hash (salted, stretched) buys nothing here, and a plain digest lets the
token be found by an index lookup on its hash.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import ApiToken, Membership, Project, Role, User, utcnow
from portal.services import audit, authz
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound

PREFIX = "hmr_"
SECRET_BYTES = 32
NAME_MAX = 64
MAX_DAYS = 365
CEILINGS = (Role.VIEWER.value, Role.DEVELOPER.value)
# A token's last use is written at most this often: a busy pipeline does not write a row
# on every call.
LAST_USED_EVERY = timedelta(seconds=60)
_SECRET = re.compile(r"hmr_[A-Za-z0-9_-]{43}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    token: ApiToken
    secret: str  # shown once, never stored


def _check_name(user: User, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise Invalid("name", _("Give the token a name, such as ci-deploy."))
    if len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise Invalid("name", _("A token name is at most %(num)d letters, digits, '.', '_' and '-', "
                                "starting with a letter or digit.", num=NAME_MAX))
    taken = db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name))
    if taken:
        raise Invalid("name", _("You have a token named %(name)s already.", name=name))
    return name


def _check_expiry(expires, now: datetime) -> datetime:
    if isinstance(expires, datetime):
        expires = expires.date()
    if expires is None:
        raise Invalid("expires", _("Choose when the token expires (at most a year from today)."))
    at = datetime(expires.year, expires.month, expires.day) + timedelta(days=1)  # the end of that day
    if at <= now:
        raise Invalid("expires", _("The expiry date must be in the future."))
    if at > now + timedelta(days=MAX_DAYS + 1):
        raise Invalid("expires", _("A token lasts at most a year."))
    return at


def _projects_of(user: User, names) -> list[Project]:
    chosen = []
    for name in names or []:
        project = db.session.scalar(select(Project).where(Project.name == name))
        if project is None or authz.role_in(user, project) is None:
            raise Invalid("projects", _("You are not a member of a project named %(name)s.", name=str(name)[:63]))
        chosen.append(project)
    if not chosen:
        raise Invalid("projects", _("Choose at least one project, or all of your projects."))
    return chosen


def _best_role(user: User, projects: list[Project] | None) -> Role | None:
    """The highest role the user has in the chosen projects (None: in any of theirs)."""
    if user.is_admin:
        return Role.OWNER
    stmt = select(Membership.role).where(Membership.user_id == user.id)
    if projects is not None:
        stmt = stmt.where(Membership.project_id.in_([p.id for p in projects]))
    roles = [Role(r) for r in db.session.scalars(stmt)]
    return max(roles, key=lambda r: r.rank) if roles else None


def create(name: str, expires, ceiling: str, all_projects: bool, project_names, by: Actor) -> Created:
    """A new token of `by.user`. The role ceiling is viewer or developer, never above the
    user's own role in the token's projects; in each project the token gets the lower of
    the two."""
    user = by.user
    now = utcnow()
    name = _check_name(user, name)
    at = _check_expiry(expires, now)
    if ceiling not in CEILINGS:
        raise Invalid("ceiling", _("The role is viewer or developer."))
    projects = None if all_projects else _projects_of(user, project_names)
    best = _best_role(user, projects)
    if ceiling == Role.DEVELOPER.value and (best is None or not best.at_least(Role.DEVELOPER)):
        raise Invalid("ceiling", _("Your own role there is viewer: the token cannot have more."))
    secret = PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    token = ApiToken(user=user, name=name, secret_hash=digest(secret), ceiling=ceiling,
                     all_projects=projects is None, created_at=now, expires_at=at,
                     projects=projects or [])
    db.session.add(token)
    try:
        db.session.flush()
    except IntegrityError:  # the same name, created concurrently
        db.session.rollback()
        raise Invalid("name", _("You have a token named %(name)s already.", name=name))
    scope = "all projects" if projects is None else ", ".join(p.name for p in projects)
    audit.record(by, "token.create", "token", name,
                 detail=f"{ceiling}; {scope}; expires {at:%Y-%m-%d}")
    db.session.commit()
    return Created(token, secret)


def authenticate(secret: str) -> ApiToken | None:
    """The token of that secret if it is valid now (not expired, its user enabled), else None.
    Marks its last use (at most once a minute)."""
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        return None
    wanted = digest(secret)
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == wanted))
    if token is None or not hmac.compare_digest(token.secret_hash, wanted):
        return None
    now = utcnow()
    if token.expires_at <= now or token.user.disabled:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
        token.last_used_at = now
        db.session.commit()
    return token


def of_user(user: User) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def listing(q: str = ""):
    """Every user's tokens, for the administrator, newest first."""
    stmt = (select(ApiToken).join(User, User.id == ApiToken.user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))
    if q:
        stmt = stmt.where(User.username.contains(q.strip().lower(), autoescape=True)
                          | ApiToken.name.contains(q.strip(), autoescape=True))
    return stmt


def get(token_id: int, by: Actor) -> ApiToken:
    """A token its owner or an administrator may see; anyone else's is NotFound."""
    token = db.session.get(ApiToken, token_id) if isinstance(token_id, int) else None
    if token is None or (token.user_id != by.user.id and not (by.user.is_admin and by.token is None)):
        raise NotFound(_("No such token."))
    return token


def revoke(token_id: int, by: Actor) -> str:
    """Revoke (delete) a token: the owner's own, or anyone's by an administrator."""
    token = get(token_id, by)
    name, owner = token.name, token.user.username
    db.session.delete(token)
    audit.record(by, "token.revoke", "token", name if owner == by.user.username else f"{owner}/{name}")
    db.session.commit()
    return name


def revoke_all(user: User, by: Actor | None, why: str) -> int:
    """Every token of `user` goes (the account was disabled, or its password changed); in
    the caller's transaction, which commits."""
    gone = 0
    for token in of_user(user):
        db.session.delete(token)  # the ORM drops its project rows too
        gone += 1
    if gone:
        audit.record(by, "token.revoke_all", "user", user.username, detail=f"{gone} token(s); {why}")
    return gone
