"""NFS volumes and the trash of deleted ones."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Project
from portal.models.common import utcnow


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
