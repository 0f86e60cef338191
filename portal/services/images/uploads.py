"""Uploading an image archive from the browser into the project's repository.

    uploaded = uploads.upload(actor, project, stream, name="web", tag="1.0", image=None)

The stream (the request's body, as it arrives) goes through push.push_archive to the
registry that access.py names, bounded by HUMMER_UPLOAD_MAX_BYTES. Only once the registry
holds the tag are the push record (ImagePush, one per repository and tag) and the audit
event written, in one transaction. A refused archive, a cancelled upload or a registry
that goes away leaves no tag (push.py tags last) and no record.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import ImagePush, Project, Role, utcnow
from portal.services import audit, authz
from portal.services.context import Actor
from portal.services.images import access
from portal.services.images.push import push_archive

__all__ = ["Uploaded", "upload", "limit", "record_push"]


@dataclass(frozen=True)
class Uploaded:
    repository: str   # <project>/<name>
    tag: str
    digest: str
    size: int         # the image's compressed size: the sum of its layers
    image: str        # the full pull name: <registry host>/<project>/<name>:<tag>


def limit() -> int:
    """The largest archive a user may upload, in bytes (HUMMER_UPLOAD_MAX_BYTES)."""
    return int(current_app.config["UPLOAD_MAX_BYTES"])


def record_push(project: Project, repository: str, tag: str, digest: str, size: int, username: str) -> None:
    """Hummer's record of the tag it pushed (one per repository and tag), in the session."""
    record = db.session.scalar(select(ImagePush).where(ImagePush.repository == repository, ImagePush.tag == tag))
    if record is None:
        record = ImagePush(project_id=project.id, repository=repository, tag=tag)
        db.session.add(record)
    record.digest, record.size = digest, size
    record.pushed_by, record.pushed_at = username, utcnow()


def upload(actor: Actor, project: Project, stream: BinaryIO, name: str, tag: str,
           image: str | None = None) -> Uploaded:
    """Push the archive read from `stream` as <project>/<name>:<tag>; developers and up.

    Invalid (with the form field it belongs to) for a bad name, tag or archive; Forbidden,
    NotFound or Unavailable as access.translated() maps the registry's errors."""
    authz.require(actor.user, project, Role.DEVELOPER)
    registry = access.registry()
    with access.translated():
        pushed = push_archive(registry, stream, project=project.name, name=name, tag=tag,
                              limit=limit(), image=image or None)
    record_push(project, pushed.repository, pushed.tag, pushed.digest, pushed.size, actor.user.username)
    audit.record(actor, "image.push", "image", f"{pushed.repository}:{pushed.tag}", project,
                 detail=f"{pushed.digest} ({pushed.size} bytes)")
    db.session.commit()
    return Uploaded(pushed.repository, pushed.tag, pushed.digest, pushed.size,
                    access.image_name(pushed.repository, pushed.tag))
