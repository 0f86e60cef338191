"""Accounts: creation, login with an atomic lockout, sessions, disabling, passwords."""
from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from portal import validation
from portal.extensions import db
from portal.models import Membership, Project, User, utcnow
from portal.services import audit, tokens
from portal.services.authz import require_admin
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound

MAX_LOCKOUT_SECONDS = 15 * 60
_DUMMY_HASH: str | None = None


def find(username: str) -> User | None:
    """The user of that name, whatever its case: usernames are stored in lower case."""
    if not isinstance(username, str):
        return None
    return db.session.scalar(select(User).where(User.username == validation.normal_username(username)))


def get(user_id: int) -> User:
    user = db.session.get(User, user_id) if validation.row_id(user_id) else None
    if user is None:
        raise NotFound(_("No such user."))
    return user


def _new_user(username: str, password: str, email: str, is_admin: bool) -> User:
    username = (username or "").strip()
    email = (email or "").strip()
    for field, message in (
        ("username", validation.username(username)),
        ("email", _("At most %(num)d characters.", num=validation.EMAIL_MAX_LENGTH)
                  if len(email) > validation.EMAIL_MAX_LENGTH else None),
        ("password", validation.password(password, current_app.config["PASSWORD_MIN_LENGTH"])),
    ):
        if message:
            raise Invalid(field, message)
    existing = find(username)
    if existing is not None:
        raise Invalid("username", _("User '%(name)s' already exists.", name=existing.username))
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
        raise Invalid("username", _("User '%(name)s' already exists.", name=user.username))
    audit.record(by, "user.create", "user", user.username,
                 detail="admin" if is_admin else "")
    db.session.commit()
    return user


def admin_exists() -> bool:
    return bool(db.session.scalar(select(func.count(User.id)).where(User.is_admin.is_(True))))


def _dummy_check(password: str) -> None:
    """Check a password against a throw-away hash: the same work as a real check."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_hex(16))
    check_password_hash(_DUMMY_HASH, password or "")


def _lockout_seconds(failures: int) -> int:
    """The first lockout at the limit, doubling with each further failure, up to 15 minutes."""
    excess = failures - current_app.config["LOGIN_MAX_FAILURES"]
    return min(current_app.config["LOGIN_LOCKOUT_SECONDS"] * 2 ** min(excess, 16),
               MAX_LOCKOUT_SECONDS)


def _reserve_attempt(user: User, now) -> int | None:
    """Count this attempt before any password is checked, atomically in SQL.

    The UPDATE succeeds only while the account is not locked, and it holds the row (the
    database on SQLite) until the commit, so parallel logins queue here: the attempt that
    reaches the limit sets `locked_until` before the next one can count, and at most
    LOGIN_MAX_FAILURES passwords are checked per lockout whatever the concurrency.
    Returns the attempt's number, or None while the account is locked.
    """
    counted = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=User.failed_logins + 1)
        .execution_options(synchronize_session=False))
    if counted.rowcount != 1:
        db.session.rollback()
        return None
    count = db.session.scalar(select(User.failed_logins).where(User.id == user.id))
    if count >= current_app.config["LOGIN_MAX_FAILURES"]:
        db.session.execute(
            update(User).where(User.id == user.id)
            .values(locked_until=now + timedelta(seconds=_lockout_seconds(count)))
            .execution_options(synchronize_session=False))
    db.session.commit()
    return count


def authenticate(username: str, password: str, addr: str = "") -> User | None:
    """The user if the password is right and the account enabled, else None.

    Every failure looks the same to the caller (unknown name, wrong password, disabled,
    locked), costs one password hash, and is recorded in the audit log without the
    password. Repeated failures lock the account: the lockout doubles with each further
    failure, up to 15 minutes, and during it no password is checked at all, so the right
    one gains nothing.
    """
    name = username.strip()
    user = find(name)
    if user is None:
        _dummy_check(password)
        return _failed(name, addr, "no such user")
    attempt = _reserve_attempt(user, utcnow())
    if attempt is None:
        _dummy_check(password)
        return _failed(user.username, addr, "account locked")
    if not user.check_password(password):
        if attempt >= current_app.config["LOGIN_MAX_FAILURES"]:
            audit.record_anonymous(addr, "user.locked", "user", user.username,
                                   detail=f"{attempt} failed logins; locked "
                                          f"{_lockout_seconds(attempt)}s")
        return _failed(user.username, addr, "wrong password")
    if user.disabled:
        return _failed(user.username, addr, "account disabled")
    db.session.execute(
        update(User).where(User.id == user.id).values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return user


def _failed(name: str, addr: str, why: str) -> None:
    """One answer for every failed login; the audit row says why, never the password."""
    audit.record_anonymous(addr, "user.login_failed", "user", name[:64], detail=why)
    db.session.commit()
    return None


def by_session_id(session_id: str) -> User | None:
    """The user of a session or remember cookie ("id:generation"), if it is still valid."""
    user_id, sep, generation = (session_id or "").partition(":")
    if not sep or not user_id.isdigit() or not generation.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_generation != int(generation):
        return None
    return user


def _end_sessions(user: User) -> None:
    """Bump the session generation: every session and remember cookie of `user` ends."""
    db.session.flush()
    db.session.execute(
        update(User).where(User.id == user.id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session=False))
    db.session.expire(user, ["session_generation"])


def logout(by: Actor) -> None:
    """Logging out ends every session of the user, on every device."""
    _end_sessions(by.user)
    audit.record(by, "user.logout", "user", by.user.username)
    db.session.commit()


def logout_everywhere(by: Actor) -> None:
    _end_sessions(by.user)
    audit.record(by, "user.logout_everywhere", "user", by.user.username)
    db.session.commit()


def change_own_password(current: str, password: str, by: Actor) -> None:
    """A user changes their own password: the current one is required. Other sessions end."""
    user = by.user
    if not user.check_password(current or ""):
        raise Invalid("current_password", _("That is not your current password."))
    message = validation.password(password, current_app.config["PASSWORD_MIN_LENGTH"])
    if message:
        raise Invalid("password", message)
    user.set_password(password)
    _end_sessions(user)
    tokens.revoke_all(user, by, "password changed")
    audit.record(by, "user.change_password", "user", user.username)
    db.session.commit()


def set_disabled(user: User, disabled: bool, by: Actor) -> None:
    require_admin(by.user)
    if user.id == by.user.id and disabled:
        raise Invalid(None, _("You cannot disable your own account."))
    user.disabled = disabled
    if disabled:
        _end_sessions(user)
        tokens.revoke_all(user, by, "account disabled")
    audit.record(by, "user.disable" if disabled else "user.enable", "user", user.username)
    db.session.commit()


def reset_password(user: User, password: str, by: Actor) -> None:
    require_admin(by.user)
    message = validation.password(password, current_app.config["PASSWORD_MIN_LENGTH"])
    if message:
        raise Invalid("password", message)
    user.set_password(password)
    user.failed_logins, user.locked_until = 0, None
    _end_sessions(user)
    tokens.revoke_all(user, by, "password reset")
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
