"""Accounts: creation, login with throttling, disabling, password resets."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import validation
from portal.extensions import db
from portal.models import Membership, Project, User, utcnow
from portal.services import audit
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound, Throttled

MAX_LOCKOUT_SECONDS = 15 * 60


def find(username: str) -> User | None:
    """The user of that name, whatever its case: usernames are stored in lower case."""
    if not isinstance(username, str):
        return None
    return db.session.scalar(select(User).where(User.username == validation.normal_username(username)))


def get(user_id: int) -> User:
    user = db.session.get(User, user_id) if validation.row_id(user_id) else None
    if user is None:
        raise NotFound("No such user.")
    return user


def _new_user(username: str, password: str, email: str, is_admin: bool) -> User:
    username = (username or "").strip()
    email = (email or "").strip()
    for field, message in (
        ("username", validation.username(username)),
        ("email", f"At most {validation.EMAIL_MAX_LENGTH} characters."
                  if len(email) > validation.EMAIL_MAX_LENGTH else None),
        ("password", validation.password(password, current_app.config["PASSWORD_MIN_LENGTH"])),
    ):
        if message:
            raise Invalid(field, message)
    existing = find(username)
    if existing is not None:
        raise Invalid("username", f"User '{existing.username}' already exists.")
    user = User(username=validation.normal_username(username), email=email,
                is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    return user


def create(username: str, password: str, email: str = "", is_admin: bool = False,
           by: Actor | None = None) -> User:
    """Create an account. `by=None` is the command line (create-admin)."""
    if by is not None:
        require_admin(by.user)
    user = _new_user(username, password, email, is_admin)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent create of the same name won the race
        db.session.rollback()
        raise Invalid("username", f"User '{user.username}' already exists.")
    audit.record(by, "user.create", "user", user.username,
                 detail="admin" if is_admin else "")
    db.session.commit()
    return user


def admin_exists() -> bool:
    return bool(db.session.scalar(select(func.count(User.id)).where(User.is_admin.is_(True))))


def authenticate(username: str, password: str, addr: str = "") -> User | None:
    """The user if the password is right. Repeated failures lock the account for a while.

    The lockout doubles with each further failure, up to 15 minutes, and a right
    password during a lockout still gets Throttled, so guessing gains nothing.
    """
    user = find(username)
    if user is None:
        # Same cost as a real check, so timing does not reveal which names exist.
        User(password_hash="").set_password(password or "x")
        return None
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        wait = int((user.locked_until - now).total_seconds()) + 1
        raise Throttled(f"Too many failed logins. Try again in {wait} seconds.", wait)
    if user.check_password(password):
        if user.failed_logins:
            user.failed_logins, user.locked_until = 0, None
            db.session.commit()
        return user
    user.failed_logins += 1
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    if user.failed_logins >= limit:
        base = current_app.config["LOGIN_LOCKOUT_SECONDS"]
        seconds = min(base * 2 ** (user.failed_logins - limit), MAX_LOCKOUT_SECONDS)
        user.locked_until = now + timedelta(seconds=seconds)
        audit.record(Actor(user, addr), "user.locked", "user", user.username,
                     detail=f"{user.failed_logins} failed logins; locked {seconds}s")
    db.session.commit()
    return None


def set_disabled(user: User, disabled: bool, by: Actor) -> None:
    require_admin(by.user)
    if user.id == by.user.id and disabled:
        raise Invalid(None, "You cannot disable your own account.")
    user.disabled = disabled
    audit.record(by, "user.disable" if disabled else "user.enable", "user", user.username)
    db.session.commit()


def reset_password(user: User, password: str, by: Actor) -> None:
    require_admin(by.user)
    message = validation.password(password, current_app.config["PASSWORD_MIN_LENGTH"])
    if message:
        raise Invalid("password", message)
    user.set_password(password)
    user.failed_logins, user.locked_until = 0, None
    audit.record(by, "user.reset_password", "user", user.username)
    db.session.commit()


def listing(q: str = ""):
    stmt = select(User).order_by(User.username)
    if q:
        stmt = stmt.where(User.username.contains(q.strip().lower(), autoescape=True))
    return stmt


SUGGEST_MIN_CHARS = 3   # fewer typed characters suggest nothing: no listing of every account
SUGGEST_LIMIT = 10


def suggest(typed: str, not_in: Project | None = None) -> list[str]:
    """At most SUGGEST_LIMIT enabled usernames starting with `typed` (SUGGEST_MIN_CHARS or
    more characters), leaving out the members of `not_in`."""
    typed = typed.strip()
    if len(typed) < SUGGEST_MIN_CHARS:
        return []
    stmt = (select(User.username)
            .where(User.disabled.is_(False), User.username.startswith(typed, autoescape=True))
            .order_by(User.username).limit(SUGGEST_LIMIT))
    if not_in is not None:
        stmt = stmt.where(User.id.not_in(select(Membership.user_id).where(Membership.project_id == not_in.id)))
    return list(db.session.scalars(stmt))
