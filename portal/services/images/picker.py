"""Suggestions for the deploy form's image field: the project's images and the public ones, as
full pull names (`<host:port>/<repo>:<tag>`), newest pushes first, at most LIMIT.

Never in the way: without a registry, or when it does not answer, there are simply no
suggestions. The registry is asked with short timeouts, no retries, and within an overall
time budget (what was found by then is what is offered)."""
from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import select

from portal.adapters import registry as registry_adapter
from portal.extensions import db
from portal.models import ImagePush, Project
from portal.services.errors import Unavailable
from portal.services.images import access, public

LIMIT = 200
BUDGET = 2.0           # seconds for all of it
TIMEOUT = 1.5          # per request (connect: 1 s)


def _client() -> registry_adapter.Registry | None:
    try:
        return access.registry(timeout=TIMEOUT, connect_timeout=1.0, retries=1)
    except Unavailable:  # no registry configured: no suggestions
        return None


def suggestions(project: Project, limit: int = LIMIT, budget: float = BUDGET) -> list[str]:
    registry = _client()
    if registry is None:
        return []
    deadline = time.monotonic() + budget
    prefix = project.name + "/"
    pairs: list[tuple[str, str]] = []
    try:
        repositories = []
        for name in registry.iter_catalog():
            if name.startswith(prefix):
                repositories.append(name)
            if time.monotonic() > deadline:
                break
        repositories = sorted(set(repositories)) + [r for r in public.public_repositories()
                                                    if not r.startswith(prefix)]
        for repository in repositories:
            if time.monotonic() > deadline:
                break
            try:
                pairs.extend((repository, tag) for tag in registry.tags(repository))
            except (registry_adapter.NotFound, registry_adapter.BadName):
                continue
    except registry_adapter.RegistryError:
        pass  # what was found so far; nothing when the registry is away
    if not pairs:
        return []
    pushed = {(p.repository, p.tag): p.pushed_at for p in db.session.execute(
        select(ImagePush.repository, ImagePush.tag, ImagePush.pushed_at)
        .where(ImagePush.repository.in_(sorted({r for r, _t in pairs}))))}
    oldest = datetime.min
    own = [p for p in pairs if p[0].startswith(prefix)]
    others = [p for p in pairs if not p[0].startswith(prefix)]
    ordered = sorted(own, key=lambda p: (pushed.get(p) or oldest, p), reverse=True) + \
        sorted(others, key=lambda p: (pushed.get(p) or oldest, p), reverse=True)
    return [access.image_name(repository, tag) for repository, tag in ordered[:limit]]
