"""Per-project retention: keep the newest N tags of each repository under `<project>/`.

    plan = retention.compute(project)      # what would go, and why the rest stays
    plan.going, plan.kept, plan.token       # the token names exactly the deletions shown
    retention.apply(actor, project, token)  # recomputed now; Conflict when it differs from the token
    retention.set_keep(actor, project, "5") # N from the form: 1..1000, or "" (keep all)

"Newest" is by push time: the ImagePush row Hummer recorded for the tag (when its digest is
still the tag's), else the image's creation time from its config blob, else oldest of all.
The registry deletes by digest, and a digest takes every tag pointing to it: a digest that a
kept tag also names (or that a kept index lists) is never deleted; such tags are shown as
kept with the reason. A deletion that fails part way puts back the manifests already
deleted (their blobs stay until the garbage collection), so nothing is half-done.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, tuple_

from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ImagePush, Project
from portal.services import audit
from portal.services.context import Actor
from portal.services.errors import Conflict, Invalid, ServiceError
from portal.services.images import access, catalog, public

KEEP_MIN, KEEP_MAX = 1, 1000
KEEP_MESSAGE = _l("Keep a whole number of tags from %(min)d to %(max)d, or leave it empty to keep every tag.",
                  min=KEEP_MIN, max=KEEP_MAX)
_CREATED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


@dataclass
class TagState:
    """One tag as the registry has it now, with the time it is ordered by."""

    repository: str
    tag: str
    digest: str
    when: datetime | None            # naive UTC; None: unknown (counts as the oldest)
    source: str                      # "push" (Hummer's record), "created" (the config), ""
    manifest: registry_adapter.Manifest
    keep: bool = True
    reason: str = ""

    @property
    def children(self) -> list[str]:
        return [c.digest for c in self.manifest.children] if self.manifest.is_list else []


@dataclass
class RepositoryPlan:
    repository: str
    tags: list[TagState] = field(default_factory=list)   # newest first
    public: bool = False


@dataclass
class Plan:
    keep: int | None
    repositories: list[RepositoryPlan] = field(default_factory=list)

    @property
    def going(self) -> list[TagState]:
        return [t for r in self.repositories for t in r.tags if not t.keep]

    @property
    def kept(self) -> list[TagState]:
        return [t for r in self.repositories for t in r.tags if t.keep]

    @property
    def digests(self) -> list[tuple[str, str]]:
        """(repository, digest) to delete, each once, in the order shown."""
        seen: dict[tuple[str, str], None] = {}
        for t in self.going:
            seen.setdefault((t.repository, t.digest), None)
        return list(seen)

    @property
    def token(self) -> str:
        """A fingerprint of exactly the deletions shown: apply refuses when it changed."""
        text = "\n".join(f"{t.repository} {t.tag} {t.digest}" for t in
                         sorted(self.going, key=lambda t: (t.repository, t.tag)))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def parse_keep(raw: str | None) -> int | None:
    """N from the form: None for empty (keep all); Invalid beside the field otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4 or not KEEP_MIN <= int(raw) <= KEEP_MAX:
        raise Invalid("keep_tags", str(KEEP_MESSAGE))
    return int(raw)


def set_keep(actor: Actor, project: Project, raw: str | None) -> int | None:
    keep = parse_keep(raw)
    if keep != project.keep_tags:
        project.keep_tags = keep
        audit.record(actor, "image.retention", "project", project.name, project,
                     detail=f"keep {keep}" if keep else "keep all")
        db.session.commit()
    return keep


def compute(project: Project, registry: registry_adapter.Registry | None = None) -> Plan:
    """What retention would delete now (nothing when N is not set), read from the registry."""
    registry = registry or access.registry()
    plan = Plan(project.keep_tags)
    public_names = set(public.public_repositories())
    for repository in catalog.own_names(project, registry):
        repo = RepositoryPlan(repository, _states(registry, repository), repository in public_names)
        _decide(repo.tags, project.keep_tags)
        plan.repositories.append(repo)
    return plan


def _states(registry: registry_adapter.Registry, repository: str) -> list[TagState]:
    pushes = {p.tag: p for p in db.session.scalars(select(ImagePush).where(ImagePush.repository == repository))}
    states: list[TagState] = []
    with access.translated():
        tags = registry.tags(repository)
        for tag in tags:
            try:
                manifest = registry.manifest(repository, tag)
            except registry_adapter.NotFound:
                continue  # deleted meanwhile
            pushed = pushes.get(tag)
            if pushed is not None and pushed.digest == manifest.digest:
                states.append(TagState(repository, tag, manifest.digest, _naive(pushed.pushed_at), "push", manifest))
            else:
                created = _created(registry, manifest)
                states.append(TagState(repository, tag, manifest.digest, created, "created" if created else "",
                                       manifest))
    oldest = datetime.min
    states.sort(key=lambda s: (s.when or oldest, s.tag), reverse=True)
    return states


def _decide(states: list[TagState], keep: int | None) -> None:
    if keep is None:
        for s in states:
            s.keep, s.reason = True, _("retention is off")
        return
    newest = states[:keep]
    protected: dict[str, str] = {}
    for s in newest:
        s.keep, s.reason = True, _("among the newest %(num)d", num=keep)
        protected.setdefault(s.digest, s.tag)
        for child in s.children:
            protected.setdefault(child, s.tag)
    for s in states[keep:]:
        if s.digest in protected:
            s.keep = True
            s.reason = _("shares its digest with the kept tag %(tag)s", tag=protected[s.digest])
        else:
            s.keep, s.reason = False, ""


def _created(registry: registry_adapter.Registry, manifest: registry_adapter.Manifest) -> datetime | None:
    """The image's creation time from its config (a list's: its first image's); None if unknown."""
    try:
        if manifest.is_list:
            children = manifest.children
            if not children:
                return None
            manifest = registry.manifest(manifest.repository, children[0].digest)
        config = manifest.config
        if config is None or not config.digest:
            return None
        return parse_created(registry.blob_json(manifest.repository, config.digest).get("created"))
    except registry_adapter.NotFound:
        return None
    except registry_adapter.Refused:
        return None


def parse_created(value) -> datetime | None:
    """An RFC 3339 time as image configs carry it (nanoseconds included) as naive UTC."""
    match = _CREATED.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    base, fraction, zone = match.groups()
    text = base + (fraction or "")[:7] + ("+00:00" if zone in (None, "Z") else zone)
    try:
        return _naive(datetime.fromisoformat(text))
    except ValueError:
        return None


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def apply(actor: Actor, project: Project, token: str) -> int:
    """Delete what the preview showed (recomputed now); the number of tags removed.
    Conflict, and nothing deleted, when the registry changed since the preview."""
    registry = access.registry()
    plan = compute(project, registry)
    if (token or "") != plan.token:
        raise Conflict(_("The tags changed since the preview was shown: nothing was deleted. "
                         "Check the new preview and apply again."))
    going = plan.going
    if not going:
        return 0
    done: list[tuple[str, str]] = []
    try:
        with access.translated():
            for repository, digest in plan.digests:
                registry.delete(repository, digest)
                done.append((repository, digest))
    except ServiceError:
        _restore(registry, [t for t in going if (t.repository, t.digest) in set(done)])
        raise
    db.session.execute(delete(ImagePush).where(
        tuple_(ImagePush.repository, ImagePush.tag).in_([(t.repository, t.tag) for t in going]))
        .execution_options(synchronize_session=False))
    audit.record(actor, "image.prune", "project", project.name, project,
                 detail=f"{len(going)} tags removed (keep {plan.keep})")
    db.session.commit()
    return len(going)


def _restore(registry: registry_adapter.Registry, states: list[TagState]) -> None:
    """Put back the tags of digests already deleted (their blobs are still stored)."""
    for s in states:
        try:
            registry.put_manifest(s.repository, s.tag, s.manifest.raw, s.manifest.media_type)
        except registry_adapter.RegistryError:
            pass
