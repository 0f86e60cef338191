"""Users, projects, their members, resource plans and the audit log."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms.fields.choices import SelectChoice

from portal.extensions import db
from portal.models.common import utcnow


class Role(str, enum.Enum):
    """Project roles, weakest first. An admin outranks them all."""

    VIEWER = "viewer"
    DEVELOPER = "developer"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: "Role") -> bool:
        return self.rank >= other.rank

    @classmethod
    def choices(cls) -> list[SelectChoice]:
        return [SelectChoice(r.value, ROLE_CHOICE_LABELS[r.value]) for r in cls]


# The words of Role.choices (capitalised, as a select shows them), in the user's language.
ROLE_CHOICE_LABELS = {"viewer": _l("Viewer"), "developer": _l("Developer"), "owner": _l("Owner")}


class User(UserMixin, db.Model):
    # Usernames are case-insensitive: kept in lower case (see _lower_case), unique as such.
    __table_args__ = (CheckConstraint("username = lower(username)", name="username_lower"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    # Part of every session and "keep me logged in" cookie (get_id): bumping it ends them all.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The language chosen on the profile page (portal.i18n.LANGUAGES); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses disabled users
        return not self.disabled

    @validates("username")
    def _lower_case(self, key: str, value: str) -> str:
        """Usernames are case-insensitive: stored in lower case, unique as such."""
        return value.lower() if isinstance(value, str) else value

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: "id:generation"."""
        return f"{self.id}:{self.session_generation}"

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Project(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    # A DNS-1123 label: it becomes the Kubernetes namespace, so it never changes.
    name: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # The project's ResourceQuota: Kubernetes quantities, "" for no limit.
    quota_cpu: Mapped[str] = mapped_column(String(32), default="", server_default="")
    quota_memory: Mapped[str] = mapped_column(String(32), default="", server_default="")
    quota_pods: Mapped[str] = mapped_column(String(16), default="", server_default="")
    quota_storage: Mapped[str] = mapped_column(String(32), default="", server_default="")  # requests.storage
    quota_claims: Mapped[str] = mapped_column(String(16), default="", server_default="")  # persistentvolumeclaims
    # Image retention: keep the newest N tags of each of the project's repositories (None: all).
    keep_tags: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Project {self.name}>"


class Membership(db.Model):
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class ResourcePlan(db.Model):
    """A named CPU/memory preset ("small 250m/256Mi"); the original's resource modules."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    cpu_request: Mapped[str] = mapped_column(String(32))
    memory_request: Mapped[str] = mapped_column(String(32))
    cpu_limit: Mapped[str] = mapped_column(String(32))
    memory_limit: Mapped[str] = mapped_column(String(32))
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def label(self) -> str:
        return f"{self.name} {self.cpu_request}/{self.memory_request}"


class AuditEvent(db.Model):
    """Who did what to which object, when, from which address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL"), default=None
    )
    # Kept as text so the record survives the actor's or the project's deletion.
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_name: Mapped[str] = mapped_column(String(255))
    project_name: Mapped[str | None] = mapped_column(String(63), index=True, default=None)
    # The project the event belongs to; NULL once that project is deleted, so a new project
    # of the same name starts with an empty history (the name above stays for the record).
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True, default=None
    )
    project: Mapped[Project | None] = relationship()
    detail: Mapped[str] = mapped_column(Text, default="")
    # The name of the API token the actor acted through ("alice via token ci-deploy"), else None.
    via_token: Mapped[str | None] = mapped_column(String(64), default=None)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
