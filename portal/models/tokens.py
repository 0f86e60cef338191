"""Personal access tokens for the automation API (/api/v1): only a hash of the secret is kept."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Project, User
from portal.models.common import utcnow

# The projects a token is limited to (none listed and all_projects: every project of its user).
api_token_project = Table(
    "api_token_project", db.metadata,
    Column("token_id", ForeignKey("api_token.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", ForeignKey("project.id", ondelete="CASCADE"), primary_key=True),
)


class ApiToken(db.Model):
    """A user's token: a name, an expiry, a scope (all projects or some) and a role ceiling
    (viewer or developer). The secret ("hmr_...") is shown once; `secret_hash` is its SHA-256."""

    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ceiling: Mapped[str] = mapped_column(String(16))
    all_projects: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()
    # The backref makes the ORM drop a deleted project's rows here (SQLite enforces no
    # ON DELETE CASCADE), so a later project that reuses the id is never in a token's scope.
    projects: Mapped[list[Project]] = relationship(secondary=api_token_project, order_by=Project.name,
                                                   backref=backref("api_tokens"))

    def __repr__(self) -> str:
        return f"<ApiToken {self.name} of {self.user_id}>"
