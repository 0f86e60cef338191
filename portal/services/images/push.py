"""Pushing an uploaded archive into the registry: <project>/<name>:<tag>.

    pushed = push_archive(registry, stream, project="shop", name="web", tag="1.0", limit=...)

One pass over the upload (archive.read): each big layer goes to the registry while it is
read, the small blobs after it (only those the repository does not hold yet), and the
manifest last, under the tag. Until that last PUT nothing is tagged: a refused archive, a
cancelled upload or a registry failure leaves no tag, and what was sent becomes garbage for
the collector. `image` picks one image from an archive
that holds several (docker save a b); with several and none picked the push is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _

from portal.adapters import registry as registry_adapter
from portal.services.errors import Invalid
from portal.services.images import archive

__all__ = ["Pushed", "push_archive", "RegistrySink"]


@dataclass(frozen=True)
class Pushed:
    repository: str
    tag: str
    digest: str
    size: int           # the image's compressed size: its layers
    bytes_sent: int     # what went to the registry (blobs it already held cost nothing)


class RegistrySink:
    """archive.BlobSink that streams each big member to the registry as one blob."""

    def __init__(self, registry: registry_adapter.Registry, repository: str):
        self.registry, self.repository = registry, repository
        self.sent = 0

    def blob(self, chunks) -> tuple[str, int]:
        digest, size = self.registry.upload(self.repository, chunks)
        self.sent += size
        return digest, size


def checked_target(project: str, name: str, tag: str) -> str:
    """<project>/<name> when the registry would take it and the tag; else Invalid beside "name" or "tag"."""
    repository = f"{project}/{name}"
    try:
        registry_adapter.check_repository(repository)
    except registry_adapter.BadName:
        raise Invalid("name", _("%(name)s is not an image name the registry takes: lower-case letters and "
                                "digits, parts joined by '.', '_' or '-'.", name=name[:80])) from None
    try:
        registry_adapter.check_tag(tag)
    except registry_adapter.BadName:
        raise Invalid("tag", _("A tag is up to 128 letters, digits, '_', '.' and '-', not starting with "
                               "'.' or '-'.")) from None
    return repository


def push_archive(registry: registry_adapter.Registry, stream: BinaryIO, *, project: str, name: str,
                 tag: str, limit: int, image: str | None = None) -> Pushed:
    repository = checked_target(project, name, tag)
    sink = RegistrySink(registry, repository)
    images = archive.read(stream, sink, limit)
    chosen = _choose(images, image)
    for digest, data in chosen.pending.items():
        if not registry.blob_exists(repository, digest):
            sink.sent += registry.upload(repository, [data], digest)[1]
    digest = registry.put_manifest(repository, tag, chosen.manifest, chosen.media_type)
    return Pushed(repository, tag, digest, sum(b.size for b in chosen.layers), sink.sent)


def _choose(images: list[archive.ArchiveImage], wanted: str | None) -> archive.ArchiveImage:
    if wanted:
        for candidate in images:
            if wanted in candidate.tags:
                return candidate
        raise Invalid("image", _("The archive holds no image named %(name)s.", name=wanted[:200]))
    if len(images) > 1:
        names = ", ".join(t for i in images for t in i.tags[:1]) or str(len(images))
        raise Invalid("image", _("The archive holds %(count)s images (%(names)s): pick the one to push.",
                                 count=len(images), names=names[:300]))
    return images[0]
