"""Image builds: from an uploaded context or a Git repository to a tag in the private registry.

    build = builds.submit_upload(actor, project, stream, "ctx.tar.gz", target)   # queued
    build = builds.submit_git(actor, project, url, ref, path, target)          # queued
    builds.get(project, 7); builds.history(project)                             # for the pages
    builds.cancel(actor, project, 7)
    builds.follow(app, 7, max_seconds)                                          # the live log

A submit checks everything it can before anything is stored: the target repository and tag
(as the registry would), the build arguments, the context (an archive with no way out of
itself, under HUMMER_BUILD_CONTEXT_MAX_BYTES) or the Git source (fetched at once, so that an
unreachable URL or an unknown ref is said beside its field), and the Dockerfile in it. Only
then are the build's row and its workspace (BUILD_DIR/<id>/context) made, together; the
build queues, and queue.py builds it on this host with buildah and pushes it. The tag is
written only by a build that succeeded.
"""
from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from portal.adapters import files
from portal.adapters import git as git_adapter
from portal.domain.apps import split_image
from portal.extensions import db
from portal.models import ACTIVE_BUILD_STATUSES, Build, BuildStatus, Project, Role, utcnow
from portal.services import apps, audit, authz
from portal.services.builds import context, queue
from portal.services.builds.log import chunks_after, follow, text
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound, ServiceError
from portal.services.images import access
from portal.services.images.push import checked_target
from portal.services.provisioning import supervision

__all__ = ["Target", "submit_upload", "submit_git", "get", "history", "cancel", "chunks_after", "follow", "text",
           "parse_build_args", "dispatch", "sweep", "init_app", "apps_of", "update_app"]

ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_ARGS = 50
MAX_ARG_VALUE = 4096
dispatch, sweep = queue.dispatch, queue.sweep


@dataclass
class Target:
    """What to build and where to put it: the form's fields, as the user gave them."""

    name: str
    tag: str
    dockerfile: str = "Dockerfile"
    build_args: str = ""            # KEY=value, one per line
    args: dict = field(default_factory=dict)


def parse_build_args(lines: str) -> dict[str, str]:
    """KEY=value per line (blank lines skipped) as a dict; Invalid beside "build_args"."""
    args: dict[str, str] = {}
    for number, line in enumerate((lines or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not ARG_NAME.fullmatch(name):
            raise Invalid("build_args", _("Line %(number)d: write each build argument as NAME=value, the name "
                                          "in letters, digits and '_'.", number=number))
        if len(value) > MAX_ARG_VALUE or "\x00" in value:
            raise Invalid("build_args", _("Line %(number)d: a value is at most %(limit)d characters.",
                                          number=number, limit=MAX_ARG_VALUE))
        args[name] = value
    if len(args) > MAX_ARGS:
        raise Invalid("build_args", _("At most %(limit)d build arguments.", limit=MAX_ARGS))
    return args


def _checked(actor: Actor, project: Project, target: Target) -> str:
    """The repository; Invalid for a bad target, Unavailable with no registry (nothing stored)."""
    authz.require(actor.user, project, Role.DEVELOPER)
    access.pull_host()  # Unavailable: no registry to push to
    repository = checked_target(project.name, (target.name or "").strip(), (target.tag or "").strip())
    target.args = parse_build_args(target.build_args)
    dockerfile = (target.dockerfile or "").strip() or "Dockerfile"
    if len(dockerfile) > 255 or "\x00" in dockerfile:
        raise Invalid("dockerfile", _("Give the Dockerfile's path inside the context, e.g. Dockerfile."))
    target.dockerfile = dockerfile
    return repository


def _incoming() -> Path:
    folder = Path(current_app.config["BUILD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="incoming-", dir=folder))


def _queue(actor: Actor, project: Project, repository: str, target: Target, incoming: Path, **source) -> Build:
    """The build's row and its workspace, together: the row is committed only once its
    context is in place; when the commit fails the context goes too. The caller removes
    `incoming` (empty by then, unless something failed)."""
    build = Build(project_id=project.id, repository=repository, tag=target.tag.strip(),
                  dockerfile=target.dockerfile, build_args=json.dumps(target.args), host=queue.host(),
                  started_by=actor.user.username, status=BuildStatus.QUEUED, **source)
    db.session.add(build)
    try:
        db.session.flush()
        space = queue.workspace(current_app, build.id)
        files.remove(space)
        space.mkdir(parents=True)
        (incoming / "context").rename(space / "context")
        where = build.git_url and f"{build.git_url} {build.git_ref}" or build.source_name
        audit.record(actor, "build.queued", "build", f"{repository}:{build.tag}", project,
                     detail=f"build {build.id} from {where or build.source}")
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if build.id is not None:
            files.remove(queue.workspace(current_app, build.id))
        raise
    queue.dispatch(current_app._get_current_object())
    return build


def submit_upload(actor: Actor, project: Project, stream: BinaryIO, filename: str, target: Target) -> Build:
    """Queue a build of an uploaded context (tar, tar.gz or zip holding the Dockerfile)."""
    repository = _checked(actor, project, target)
    incoming = _incoming()
    try:
        (incoming / "context").mkdir()
        context.unpack(stream, incoming / "context", int(current_app.config["BUILD_CONTEXT_MAX_BYTES"]))
        context.dockerfile_in(incoming / "context", target.dockerfile)
        return _queue(actor, project, repository, target, incoming, source="upload",
                      source_name=(filename or "")[:255])
    finally:
        files.remove(incoming)


def submit_git(actor: Actor, project: Project, url: str, ref: str, path: str, target: Target) -> Build:
    """Queue a build of a Git repository at `ref` (a branch, a tag or a commit), from `path` in it."""
    repository = _checked(actor, project, target)
    url, ref, path = (url or "").strip(), (ref or "").strip() or "HEAD", (path or "").strip().strip("/")
    if not url:
        raise Invalid("git_url", _("Give the Git repository's URL."))
    incoming = _incoming()
    try:
        deadline = time.monotonic() + int(current_app.config["BUILD_GIT_TIMEOUT"])
        try:
            commit = git_adapter.fetch(url, ref, incoming / "context", lambda line: None, threading.Event(),
                                       deadline, allowed_schemes=current_app.config["BUILD_GIT_SCHEMES"])
        except git_adapter.UnknownRef as error:
            raise Invalid("git_ref", _("The repository has no branch, tag or commit %(ref)s (%(why)s).",
                                       ref=ref[:100], why=str(error)[:300])) from None
        except git_adapter.GitTimedOut:
            raise Invalid("git_url", _("Fetching the repository took longer than %(seconds)s s "
                                       "(HUMMER_BUILD_GIT_TIMEOUT).",
                                       seconds=current_app.config["BUILD_GIT_TIMEOUT"])) from None
        except git_adapter.GitError as error:
            raise Invalid("git_url", _("The repository could not be fetched: %(why)s",
                                       why=str(error)[:300])) from None
        context.dockerfile_in(context.subdir_in(incoming / "context", path), target.dockerfile)
        return _queue(actor, project, repository, target, incoming, source="git", git_url=url[:1024],
                      git_ref=ref[:255], git_path=path[:255], commit=commit[:64])
    finally:
        files.remove(incoming)


def init_app(app) -> None:
    """Builds nobody beats for any more, and queued builds, are looked after by each
    process's supervisor (services/provisioning/supervision.py), at each of its beats."""
    supervision.also_sweep(sweep)


def get(project: Project, build_id: int) -> Build:
    build = db.session.scalar(select(Build).where(Build.id == build_id, Build.project_id == project.id))
    if build is None:
        raise NotFound(_("No build %(id)s in this project.", id=build_id))
    return build


def history(project: Project):
    """The project's builds, newest first (a select, for the pager)."""
    return select(Build).where(Build.project_id == project.id).order_by(Build.id.desc())


def apps_of(project: Project, build: Build) -> list[str]:
    """The project's apps that run an image of the build's repository (any tag): the ones
    "update to this tag" offers. Empty when the cluster cannot be read."""
    prefix = access.pull_host() + "/" + build.repository
    try:
        listed = apps.listing(project, per_page=500).items
    except ServiceError:
        return []
    return sorted(a.name for a in listed if split_image(a.image.split("@")[0])[0] == prefix)


def update_app(actor: Actor, project: Project, build_id: int, app_name: str) -> None:
    """Roll the app out to the image this build pushed (a rolling update, services.apps)."""
    authz.require(actor.user, project, Role.DEVELOPER)
    build = get(project, build_id)
    if build.status != BuildStatus.PUSHED:
        raise Invalid(None, _("Only a build that pushed its image can update an app."))
    if not app_name:
        raise Invalid("app", _("Choose the app to update."))
    if apps.check_app_name(app_name):
        raise NotFound(_("No app %(name)s in this project.", name=app_name[:80]))
    apps.set_image(project, app_name, access.pull_host() + "/" + build.repository, build.tag, "", by=actor)


def cancel(actor: Actor, project: Project, build_id: int) -> Build:
    """Cancel a queued build at once, or ask the building process to stop a going one."""
    authz.require(actor.user, project, Role.DEVELOPER)
    build = get(project, build_id)
    table = Build.__table__
    by = f"Cancelled by {actor.user.username}."
    target = f"{build.repository}:{build.tag}"
    if db.session.execute(update(table).where(table.c.id == build.id, table.c.status == BuildStatus.QUEUED)
                          .values(status=BuildStatus.CANCELLED, message=by,
                                  finished_at=utcnow())).rowcount == 1:
        audit.record(actor, "build.cancelled", "build", target, project, detail=f"build {build.id}, queued")
        db.session.commit()
        files.remove(queue.workspace(current_app, build.id))
    elif db.session.execute(update(table).where(table.c.id == build.id, table.c.status.in_(ACTIVE_BUILD_STATUSES))
                            .values(cancel_requested=True, message=by)).rowcount == 1:
        audit.record(actor, "build.cancel", "build", target, project, detail=f"build {build.id}")
        db.session.commit()
    else:
        db.session.rollback()
        raise Invalid(None, _("The build has already ended."))
    db.session.refresh(build)
    return build
