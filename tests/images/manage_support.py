"""Helpers of the retention, public-image and picker tests: the app pointed at one of the
real test registries, images pushed there with skopeo (distinct content per tag), and
Hummer's push records with chosen times."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from portal.extensions import db
from portal.models import ImagePush, Role
from tests.support.registry import oci_layout

T0 = datetime(2026, 11, 1, 12, 0, 0)


def use_registry(app, server) -> None:
    app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME=server.username,
                      REGISTRY_PASSWORD=server.password)


def push(server, tmp_path, repository: str, tag: str, content: str | None = None) -> str:
    """skopeo-push an image whose layer holds `content` (the tag by default) as repository:tag."""
    layout = oci_layout(tmp_path / f"layout-{uuid.uuid4().hex[:10]}",
                        [{"content": (content or f"{repository}:{tag}").encode()}])
    return server.push(layout, f"{repository}:{tag}")


def record(project, repository: str, tag: str, digest: str, day: int) -> ImagePush:
    """Hummer's record of a push `day` days after T0."""
    row = ImagePush(project_id=project.id, repository=repository, tag=tag, digest=digest,
                    pushed_by="olivia", pushed_at=T0 + timedelta(days=day))
    db.session.add(row)
    db.session.commit()
    return row


def new_team(make_user, make_project, prefix: str = "r"):
    """A project with a unique name (the registries live for the whole session), one user per
    role, a stranger and an admin."""
    people = {name: make_user(name) for name in ("olivia", "dev", "vic", "stranger")}
    people["root"] = make_user("root", admin=True)
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    project = make_project(name, {people["olivia"]: Role.OWNER, people["dev"]: Role.DEVELOPER,
                                  people["vic"]: Role.VIEWER})
    return project, people
