"""Typed SQLAlchemy 2.0 models: the portal's own metadata."""
from __future__ import annotations

import enum
from datetime import datetime, timezone

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms.fields.choices import SelectChoice

from portal.extensions import db


def utcnow() -> datetime:
    # Naive UTC: MariaDB DATETIME has no zone, and both backends must agree.
    return datetime.now(timezone.utc).replace(tzinfo=None)


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
    remote_addr: Mapped[str] = mapped_column(String(64), default="")


# Cluster bootstrap ------------------------------------------------------------

class ClusterSettings(db.Model):
    """The one cluster the portal provisions (HA and several clusters are later steps)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), default="hummer")
    kubernetes_version: Mapped[str] = mapped_column(String(32), default="1.30.4")
    pod_cidr: Mapped[str] = mapped_column(String(43), default="172.16.0.0/16")
    service_cidr: Mapped[str] = mapped_column(String(43), default="10.0.1.0/24")
    registry_port: Mapped[int] = mapped_column(default=5000)
    nfs_export: Mapped[str] = mapped_column(String(255), default="/hummer")
    # Filled in when an apply run finishes: what app management needs.
    registered_at: Mapped[datetime | None] = mapped_column(default=None)
    registry_address: Mapped[str] = mapped_column(String(255), default="")
    nfs_server: Mapped[str] = mapped_column(String(255), default="")
    # The portal's kubeconfig, as the master published it through the Salt mine,
    # encrypted with a key derived from HUMMER_SECRET_KEY (portal/crypto.py).
    kubeconfig_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    kube_server: Mapped[str] = mapped_column(String(255), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ClusterNode(db.Model):
    """A Salt minion that is part of the cluster, with its roles."""

    id: Mapped[int] = mapped_column(primary_key=True)
    minion_id: Mapped[str] = mapped_column(String(255), unique=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    roles: Mapped[str] = mapped_column(String(255), default="")  # comma-separated, sorted
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class RunStatus(enum.StrEnum):
    """A provisioning run's (and a run step's) status, as stored."""

    STARTING = "starting"   # recorded; Salt has not accepted the job yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_RUN_STATUSES = (RunStatus.STARTING, RunStatus.RUNNING)


class RunKind(enum.StrEnum):
    """What a provisioning run does: an orchestration, or adding a host over SSH."""

    PLAN = "plan"
    APPLY = "apply"
    ADD_NODE = "add_node"
    REMOVE_NODE = "remove_node"
    SSH_HOST = "ssh_host"


class ProvisioningRun(db.Model):
    """One orchestration run (plan, apply, add or remove a node) and its outcome."""

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # a RunKind
    orchestration: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")  # the node, for add/remove
    test: Mapped[bool] = mapped_column(default=False)
    jid: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.STARTING.value)  # a RunStatus
    units_total: Mapped[int] = mapped_column(default=0)  # (step, node) pairs expected
    # Why it failed, or a note on its success (registered for app management, a key waiting).
    message: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written by the live follower thread; a stale one means no process follows the run.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    steps: Mapped[list["RunStep"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunStep.id")


class RunStep(db.Model):
    """One orchestration step on one node: its progress and its result."""

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("provisioning_run.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(64))
    minion: Mapped[str] = mapped_column(String(255))
    jid: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)  # a RunStatus, not STARTING
    states_done: Mapped[int] = mapped_column(default=0)
    states_changed: Mapped[int] = mapped_column(default=0)
    current_state: Mapped[str] = mapped_column(String(255), default="")
    failed_state: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    output: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[str] = mapped_column(Text, default="")  # test=True: the states that would change
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    run: Mapped[ProvisioningRun] = relationship(back_populates="steps")


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


class Volume(db.Model):
    """A project's persistent volume: a directory under the NFS export, a PersistentVolume of
    type nfs naming it, and the PersistentVolumeClaim in the project's namespace."""
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))           # the claim's name, a DNS-1123 label
    capacity: Mapped[str] = mapped_column(String(32))       # as typed: 1Gi, 500Mi
    capacity_bytes: Mapped[int] = mapped_column(BigInteger)
    access_mode: Mapped[str] = mapped_column(String(16), default="ReadWriteMany")
    description: Mapped[str] = mapped_column(Text, default="")
    directory: Mapped[str] = mapped_column(String(255), unique=True)  # <project>.<name> under the export
    server: Mapped[str] = mapped_column(String(255), default="")      # the NFS server the PV names
    path: Mapped[str] = mapped_column(String(255), default="")        # the directory's path on it
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the background scan measured (plus what portal uploads added since); None: not yet.
    usage_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    usage_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def claim_volume(self) -> str:
        """The PersistentVolume's (cluster-wide) name: project and volume, which no other pair gives."""
        return f"{self.project_name}.{self.name}"

    project: Mapped["Project"] = relationship()

    @property
    def project_name(self) -> str:
        return self.project.name


class TrashedVolume(db.Model):
    """A deleted volume's files, kept under the export's trash for HUMMER_VOLUME_TRASH_DAYS."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_name: Mapped[str] = mapped_column(String(63))   # the project may be gone
    name: Mapped[str] = mapped_column(String(63))
    capacity: Mapped[str] = mapped_column(String(32))
    capacity_bytes: Mapped[int] = mapped_column(BigInteger)
    access_mode: Mapped[str] = mapped_column(String(16), default="ReadWriteMany")
    description: Mapped[str] = mapped_column(Text, default="")
    trash_name: Mapped[str] = mapped_column(String(255), unique=True)  # its entry under <export>/.trash
    deleted_by: Mapped[str] = mapped_column(String(64), default="")
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow)
