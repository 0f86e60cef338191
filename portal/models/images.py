"""Images in the private registry and the builds that make them."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.common import utcnow

# Images in the private registry ----------------------------------------------------------

class ImagePush(db.Model):
    """Hummer's record of a tag it pushed: which digest, by whom, when. The registry itself
    keeps no such history; a tag pushed past the portal (skopeo, docker) has no row."""

    __table_args__ = (UniqueConstraint("repository", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    repository: Mapped[str] = mapped_column(String(255))   # <project>/<name>
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(71))
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # compressed: the sum of its layers
    pushed_by: Mapped[str] = mapped_column(String(64), default="")  # the username, kept past the user
    pushed_at: Mapped[datetime] = mapped_column(default=utcnow)


class PublicImage(db.Model):
    """A repository an admin made public: every project lists it and may deploy it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    repository: Mapped[str] = mapped_column(String(255), unique=True)
    marked_by: Mapped[str] = mapped_column(String(64), default="")
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegistryGcRun(db.Model):
    """One garbage collection of the registry's storage: a dry run or the real one (Salt)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    dry_run: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, succeeded, failed
    blobs: Mapped[int] = mapped_column(default=0)               # eligible (dry run) or deleted
    bytes_freed: Mapped[int] = mapped_column(BigInteger, default=0)  # estimated on a dry run
    message: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


# Image builds -------------------------------------------------------------------------------

class BuildStatus(enum.StrEnum):
    """A build's status, as stored: queued, then building, then pushing; it ends in pushed,
    failed or cancelled."""

    QUEUED = "queued"
    BUILDING = "building"
    PUSHING = "pushing"
    PUSHED = "pushed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_BUILD_STATUSES = (BuildStatus.BUILDING, BuildStatus.PUSHING)
OPEN_BUILD_STATUSES = (BuildStatus.QUEUED, *ACTIVE_BUILD_STATUSES)


class Build(db.Model):
    """One image build: its source, its target tag in the private registry, and its outcome."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    repository: Mapped[str] = mapped_column(String(255))  # <project>/<name>
    tag: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(16))  # "upload" or "git"
    source_name: Mapped[str] = mapped_column(String(255), default="")  # the archive's file name
    git_url: Mapped[str] = mapped_column(String(1024), default="")
    git_ref: Mapped[str] = mapped_column(String(255), default="")
    git_path: Mapped[str] = mapped_column(String(255), default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    dockerfile: Mapped[str] = mapped_column(String(255), default="Dockerfile")
    build_args: Mapped[str] = mapped_column(Text, default="{}")  # JSON: {"NAME": "value"}
    status: Mapped[str] = mapped_column(String(16), default=BuildStatus.QUEUED.value)  # a BuildStatus
    message: Mapped[str] = mapped_column(Text, default="")  # why it failed
    digest: Mapped[str] = mapped_column(String(71), default="")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    host: Mapped[str] = mapped_column(String(255), default="")  # the portal host holding its workspace
    worker: Mapped[str] = mapped_column(String(255), default="")  # host and pid of the building process
    started_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def seconds(self) -> int | None:
        """How long it built (queued time not counted); None before it started."""
        if self.started_at is None:
            return None
        return int(((self.finished_at or utcnow()) - self.started_at).total_seconds())


class BuildLogChunk(db.Model):
    """Lines of a build's log, appended as the build runs: every portal process can stream
    them, and they stay after the build."""

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[int] = mapped_column(ForeignKey("build.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
