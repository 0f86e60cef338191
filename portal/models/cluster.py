"""The cluster the portal provisions: its settings, nodes and provisioning runs."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.common import utcnow

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
