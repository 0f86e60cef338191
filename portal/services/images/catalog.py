"""What the Images pages show of a project: its repositories in the registry, their tags with
what each image is (digest, size, platforms, creation, who pushed it), the project's storage.

    catalog.overview(project)                  # .repositories [Repository(name, public, tags)],
                                               # .storage Storage(bytes, blobs, partial)
    catalog.repositories(project)              # the same repositories, without the storage
    catalog.tag_page(project, "shop/web", 1, 20)   # one page of Tag rows (a bounded number of reads)
    catalog.tag(project, "shop/web", "1.0")    # one Tag, with its pull command
    catalog.readable(project, "shop/web")      # NotFound unless the project may read it

A project reads the repositories under `<project>/` and the public ones (PublicImage rows,
marked by an admin); it changes only its own (deletion.py). A name outside both is "not
found", whatever the registry holds: one project never learns another's repositories.

The registry keeps no history: who pushed a tag, and when, comes from the portal's ImagePush
rows, and only while the tag still points to the digest recorded (a tag pushed or moved past
the portal, by skopeo or docker, shows none).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ImagePush, Project
from portal.services.apps import Page
from portal.services.errors import NotFound
from portal.services.images import access, public

# Reads one page of the storage total may make at most (manifests and index children): past
# it the total is a lower bound, and the page says so.
STORAGE_READS = 500
# An index's platforms read at most (their manifests, for the size).
MAX_CHILDREN = 16
CATALOG_PAGE = 100


@dataclass(frozen=True)
class Repository:
    name: str      # <project>/<name>, or another project's public repository
    public: bool
    tags: int


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass
class Tag:
    repository: str
    tag: str
    digest: str
    media_type: str
    size: int                     # compressed: the sum of its layers (each one once for an index)
    platforms: list[Platform] = field(default_factory=list)
    created: datetime | None = None
    is_list: bool = False
    pushed_by: str = ""           # "" when the portal did not push this digest under this tag
    pushed_at: datetime | None = None
    layers: int = 0

    @property
    def image(self) -> str:
        """The full image name, host:port/<repository>:<tag>, as apps and nodes pull it."""
        return access.image_name(self.repository, self.tag)

    @property
    def pull_command(self) -> str:
        return f"docker pull {self.image}"


@dataclass(frozen=True)
class Storage:
    bytes: int
    blobs: int
    partial: bool = False   # STORAGE_READS reached: at least this much


def not_found() -> NotFound:
    return NotFound(_("No such repository in this project."))


def own(project: Project, repository: str) -> str:
    """`repository` when it is a valid name under the project's prefix; NotFound otherwise."""
    try:
        registry_adapter.check_repository(repository)
    except registry_adapter.BadName:
        raise not_found() from None
    if not repository.startswith(f"{project.name}/"):
        raise not_found()
    return repository


def readable(project: Project, repository: str) -> bool:
    """NotFound unless the project may read `repository` (its own, or a public one); True for
    a public repository of another project."""
    try:
        registry_adapter.check_repository(repository)
    except registry_adapter.BadName:
        raise not_found() from None
    if repository.startswith(f"{project.name}/"):
        return False
    if public.is_public(repository):
        return True
    raise not_found()


def check_tag(tag: str) -> str:
    try:
        return registry_adapter.check_tag(tag)
    except registry_adapter.BadName:
        raise NotFound(_("No such tag.")) from None


# ----------------------------------------------------------------------------- repositories

def own_names(project: Project, registry=None) -> list[str]:
    """The registry's repositories under `<project>/`, sorted (empty ones included)."""
    registry = registry or access.registry()
    prefix = f"{project.name}/"
    with access.translated():
        return sorted(n for n in registry.iter_catalog(CATALOG_PAGE)
                      if n.startswith(prefix) and _valid(n))


def _valid(name: str) -> bool:
    try:
        registry_adapter.check_repository(name)
    except registry_adapter.BadName:
        return False
    return True


def _tags(registry, repository: str) -> list[str]:
    """The repository's tags; [] for one that is gone or was never pushed (a public mark
    outliving its repository)."""
    try:
        with access.translated():
            return registry.tags(repository)
    except NotFound:
        return []


@dataclass
class Overview:
    repositories: list[Repository]
    storage: Storage


def overview(project: Project) -> Overview:
    """The Images tab: the project's repositories, then the public ones of other projects,
    each with its number of tags (repositories whose tags were all deleted, which the
    registry keeps in its catalog, are left out); and the storage of the project's own."""
    registry = access.registry()
    mine = {name: _tags(registry, name) for name in own_names(project, registry)}
    return Overview(_listed(registry, mine), _storage(registry, mine))


def repositories(project: Project) -> list[Repository]:
    """The Images tab's repositories without the storage total (the API's list)."""
    registry = access.registry()
    return _listed(registry, {name: _tags(registry, name) for name in own_names(project, registry)})


def _listed(registry, mine: dict[str, list[str]]) -> list[Repository]:
    public_names = set(public.public_repositories())
    found = [Repository(name, name in public_names, len(tags)) for name, tags in mine.items() if tags]
    for name in sorted(n for n in public_names - set(mine) if _valid(n)):
        count = len(_tags(registry, name))
        if count:
            found.append(Repository(name, True, count))
    return found


def _storage(registry, tags_of: dict[str, list[str]]) -> Storage:
    """The registry space these repositories take: every layer and config of every tag (each
    platform of an index), each blob counted once however many tags, repositories or
    platforms share it. At most STORAGE_READS manifests are read."""
    blobs: dict[str, int] = {}
    seen: set[str] = set()
    reads = 0
    with access.translated():
        for name, tags in tags_of.items():
            for tag in tags:
                if reads >= STORAGE_READS:
                    return Storage(sum(blobs.values()), len(blobs), partial=True)
                try:
                    manifest = registry.manifest(name, tag)
                except registry_adapter.NotFound:
                    continue  # deleted meanwhile
                reads += 1
                if manifest.digest in seen:
                    continue
                seen.add(manifest.digest)
                parts = [manifest]
                for child in manifest.children[:MAX_CHILDREN] if manifest.is_list else ():
                    if child.digest in seen:
                        continue
                    seen.add(child.digest)
                    reads += 1
                    try:
                        parts.append(registry.manifest(name, child.digest))
                    except registry_adapter.NotFound:
                        continue
                for part in parts:
                    for blob in part.layers + ([part.config] if part.config else []):
                        blobs[blob.digest] = blob.size
    return Storage(sum(blobs.values()), len(blobs))


# ----------------------------------------------------------------------------- tags

def tag_page(project: Project, repository: str, page: int = 1, per_page: int = 20) -> Page:
    """One page of the repository's tags (the registry's order, by name), each read in full:
    per_page manifests and configs at most."""
    readable(project, repository)
    registry = access.registry()
    with access.translated():
        names = registry.tags(repository)  # NotFound (404) for a repository never pushed
    total = len(names)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = []
    for name in names[(page - 1) * per_page: page * per_page]:
        try:
            rows.append(_read(registry, repository, name))
        except NotFound:
            continue  # deleted between the list and the read
    _pushes(repository, rows)
    return Page(rows, page, per_page, total)


def tag(project: Project, repository: str, name: str) -> Tag:
    readable(project, repository)
    check_tag(name)
    found = _read(access.registry(), repository, name)
    _pushes(repository, [found])
    return found


def _read(registry, repository: str, name: str) -> Tag:
    """One tag as the pages show it: its manifest, its config (or an index's platforms)."""
    with access.translated():
        manifest = registry.manifest(repository, name)
        row = Tag(repository, name, manifest.digest, manifest.media_type, manifest.size,
                  is_list=manifest.is_list, layers=len(manifest.layers))
        if manifest.is_list:
            sizes: dict[str, int] = {}
            for child in manifest.children:
                p = child.platform
                row.platforms.append(Platform(str(p.get("os", "")), str(p.get("architecture", "")),
                                              str(p.get("variant", ""))))
            for child in manifest.children[:MAX_CHILDREN]:
                try:
                    sub = registry.manifest(repository, child.digest)
                except registry_adapter.NotFound:
                    continue
                sizes.update({layer.digest: layer.size for layer in sub.layers})
            row.size, row.layers = sum(sizes.values()), len(sizes)
        elif manifest.config:
            try:
                config = registry.blob_json(repository, manifest.config.digest)
            except (registry_adapter.NotFound, registry_adapter.Refused):
                return row  # a config missing, too large or not JSON: the rest still shows
            if not isinstance(config, dict):
                return row
            row.platforms.append(Platform(str(config.get("os", "")), str(config.get("architecture", "")),
                                          str(config.get("variant", ""))))
            row.created = _time(config.get("created"))
    return row


def _time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Go writes nanoseconds; Python reads at most microseconds.
    if "." in text:
        head, _dot, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _pushes(repository: str, rows: list[Tag]) -> None:
    """Who pushed each tag through the portal, when the tag still points to what they pushed."""
    if not rows:
        return
    records = db.session.scalars(select(ImagePush).where(
        ImagePush.repository == repository, ImagePush.tag.in_([r.tag for r in rows])))
    by_tag = {p.tag: p for p in records}
    for row in rows:
        push = by_tag.get(row.tag)
        if push is not None and push.digest == row.digest:
            row.pushed_by, row.pushed_at = push.pushed_by or "", push.pushed_at
