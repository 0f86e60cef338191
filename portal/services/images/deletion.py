"""Deleting a tag of one of the project's own repositories.

    plan = deletion.plan(project, "shop/web", "1.0")   # what goes: the digest, its other tags, apps
    deletion.delete(project, "shop/web", "1.0", plan.digest, by=actor)

The registry deletes manifests by digest only, so every tag that points to the same digest
goes with the one asked for: the confirm page names them. It names the project's apps whose
containers run one of those images too (when a cluster is configured), since their next pull
would fail. The digest the page showed comes back with the confirmation: when the tag was
moved meanwhile nothing is deleted (Conflict), so a confirmation never deletes an image the
user did not see. The registry's blobs stay on disk until its garbage collection.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import delete as sql_delete

from portal.adapters import kube as kube_adapter
from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ImagePush, Project
from portal.services import audit, kube_access
from portal.services.context import Actor
from portal.services.errors import Conflict, NotFound, ServiceError
from portal.services.images import access, catalog

# Tags of the repository whose digests are compared (HEAD requests) to find those that share one.
MAX_TAGS = 500


@dataclass
class Plan:
    repository: str
    tag: str
    digest: str
    others: list[str] = field(default_factory=list)   # other tags on the same digest (deleted too)
    others_partial: bool = False                         # more than MAX_TAGS tags: not all compared
    apps: list[str] | None = None                         # None: no cluster configured
    apps_error: str = ""                                  # the cluster could not be read

    @property
    def tags(self) -> list[str]:
        return sorted([self.tag, *self.others])


def _sharing(registry, repository: str, tag: str, digest: str) -> tuple[list[str], bool]:
    with access.translated():
        names = registry.tags(repository)
    partial = len(names) > MAX_TAGS
    others = []
    for name in names[:MAX_TAGS]:
        if name == tag:
            continue
        try:
            with access.translated():
                if registry.digest(repository, name) == digest:
                    others.append(name)
        except NotFound:
            continue
    return others, partial


def _images(repository: str, tags: list[str], digest: str) -> set[str]:
    host = access.pull_host()
    names = {f"{host}/{repository}:{t}" for t in tags} | {f"{host}/{repository}@{digest}"}
    if "latest" in tags:
        names.add(f"{host}/{repository}")
    return names


def _apps_using(project: Project, images: set[str]) -> tuple[list[str] | None, str]:
    """The project's apps whose container runs one of `images`; (None, "") without a cluster,
    ([], reason) when the cluster cannot be read."""
    if not kube_access.configured():
        return None, ""
    try:
        kube = kube_access.kube()
        found = kube.apps(project.name)
    except (ServiceError, kube_adapter.KubeError) as error:
        return [], getattr(error, "message", str(error))
    return sorted(a.name for a in found if a.image in images), ""


def plan(project: Project, repository: str, tag: str) -> Plan:
    catalog.own(project, repository)
    catalog.check_tag(tag)
    registry = access.registry()
    with access.translated():
        digest = registry.digest(repository, tag)
    others, partial = _sharing(registry, repository, tag, digest)
    result = Plan(repository, tag, digest, others, partial)
    result.apps, result.apps_error = _apps_using(project, _images(repository, result.tags, digest))
    return result


def delete(project: Project, repository: str, tag: str, digest: str, by: Actor) -> list[str]:
    """Delete the manifest `tag` points to, provided it still is `digest`; the tags that went.
    The portal's push records of those tags go too; one audit event says what went."""
    catalog.own(project, repository)
    catalog.check_tag(tag)
    try:
        registry_adapter.check_digest(digest)
    except registry_adapter.BadName:
        raise Conflict(_("The tag changed meanwhile; look at it again before deleting it.")) from None
    registry = access.registry()
    with access.translated():
        current = registry.digest(repository, tag)
    if current != digest:
        raise Conflict(_("The tag changed meanwhile; look at it again before deleting it."))
    others, _partial = _sharing(registry, repository, tag, digest)
    with access.translated():
        registry.delete(repository, digest)
    gone = sorted([tag, *others])
    db.session.execute(sql_delete(ImagePush).where(ImagePush.repository == repository,
                                                   ImagePush.digest == digest)
                       .execution_options(synchronize_session=False))
    audit.record(by, "image.delete", "image", f"{repository}:{tag}", project,
                 detail=f"{digest}; tags: {', '.join(gone)}")
    db.session.commit()
    return gone
