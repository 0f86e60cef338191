"""Builds: the project's history, one build (with ?wait= for a pipeline to poll until it
ends), its log's last lines, a Git build submitted with the Git build form's fields, cancel;
through services/builds as the Builds pages do (the same checks before anything queues, the
same queue, the same audit).

A CI step submits, then polls `GET .../builds/{id}?wait=60` until `done`; `status` says how
it ended (pushed, failed or cancelled) and `image` what to deploy.
"""
from __future__ import annotations

import json as jsonlib
import time

from flask import current_app
from flask_babel import gettext as _
from pydantic import BaseModel, Field
from spectree import Response

from portal.api import schemas
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.extensions import db
from portal.models import OPEN_BUILD_STATUSES, Role
from portal.services import builds
from portal.services.errors import Invalid
from portal.services.images import access

TAG = "builds"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_422": schemas.Problem,
          "HTTP_429": schemas.Problem}
CHANGE_ERRORS = {**ERRORS, "HTTP_403": schemas.Problem, "HTTP_503": schemas.Problem}


# ----------------------------------------------------------------------------- bodies

class Build(BaseModel):
    id: int
    project: str
    repository: str = Field(description="<project>/<name>: where the image is pushed.")
    tag: str
    image: str = Field(description="The full image name to deploy once pushed (empty with no registry).")
    status: str = Field(description="queued, building, pushing, then pushed, failed or cancelled.")
    done: bool = Field(description="The build has ended: pushed, failed or cancelled.")
    message: str = Field(description="Why it failed, or who cancelled it.")
    digest: str = Field(description="The pushed image's digest.")
    source: str = Field(description="git or upload.")
    source_name: str = Field(description="The uploaded archive's file name.")
    git_url: str
    git_ref: str
    git_path: str
    commit: str = Field(description="The commit the Git ref was at when the build was submitted.")
    dockerfile: str
    build_args: dict[str, str]
    started_by: str
    cancel_requested: bool
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    seconds: int | None = Field(None, description="How long it built (queued time not counted).")


class BuildList(BaseModel):
    items: list[Build]
    page: int
    per_page: int
    total: int
    links: schemas.Links


class BuildStatus(Build):
    waited: float = Field(description="Seconds this request waited.")


class BuildWaitQuery(schemas.Loose):
    wait: int = Field(0, ge=0, le=120, description="Wait up to this many seconds (at most the portal's "
                                                   "API_WAIT_MAX) for the build to end.")


class BuildLogQuery(schemas.Loose):
    tail: int = Field(200, ge=1, le=10000)


class BuildLog(BaseModel):
    status: str
    done: bool
    total: int = Field(description="The number of lines in the whole log.")
    lines: list[str] = Field(description="Its last `tail` lines.")


class GitBuild(schemas.Loose):
    """The Git build form's fields."""

    git_url: str = Field("", max_length=2048, description="The repository, e.g. https://git.example.com/shop/web.git.")
    git_ref: str = Field("", max_length=1000, description="A branch, a tag or a commit; empty: the default branch.")
    git_path: str = Field("", max_length=1000, description="The build context inside the repository; empty for "
                                                          "its root.")
    name: str = Field("", max_length=1000, description="The image name in the project, e.g. web.")
    tag: str = Field("latest", max_length=1000)
    dockerfile: str = Field("Dockerfile", max_length=1000, description="Its path inside the context.")
    build_args: dict[str, str] | str = Field(
        "", description='{"NAME": "value"}, or the form\'s text: NAME=value, one per line.')


# ----------------------------------------------------------------------------- routes


def build_body(project, build) -> Build:
    try:
        args = jsonlib.loads(build.build_args or "{}")
    except ValueError:
        args = {}
    image = access.image_name(build.repository, build.tag) if access.configured() else ""
    return Build(id=build.id, project=project.name, repository=build.repository, tag=build.tag,
                 image=image, status=str(build.status), done=build.status not in OPEN_BUILD_STATUSES,
                 message=build.message or "", digest=build.digest or "", source=build.source,
                 source_name=build.source_name or "", git_url=build.git_url or "", git_ref=build.git_ref or "",
                 git_path=build.git_path or "", commit=build.commit or "", dockerfile=build.dockerfile or "",
                 build_args={str(k): str(v) for k, v in (args if isinstance(args, dict) else {}).items()},
                 started_by=build.started_by or "", cancel_requested=bool(build.cancel_requested),
                 created_at=schemas.when(build.created_at) or "", started_at=schemas.when(build.started_at),
                 finished_at=schemas.when(build.finished_at), seconds=build.seconds)


def _arg_lines(args: dict[str, str] | str) -> str:
    """The form's text (NAME=value per line) for the service to judge, from either shape."""
    if isinstance(args, str):
        return args
    lines = [f"{name}={value}" for name, value in args.items()]
    if any("=" in name or line.splitlines() != [line] for name, line in zip(args, lines, strict=True)):
        raise Invalid("build_args", _("A build argument's name has no '=', and its name and value no line break."))
    return "\n".join(lines)


@bp.get("/projects/<name>/builds")
@spec.validate(query=schemas.PageQuery, resp=Response(HTTP_200=BuildList, **ERRORS),
               tags=[TAG], operation_id="listBuilds")
def build_list(name: str, query: schemas.PageQuery):
    """The project's builds, newest first."""
    project, _role = project_for(name)
    page = db.paginate(builds.history(project), page=query.page, per_page=query.per_page, error_out=False)
    return BuildList(items=[build_body(project, b) for b in page.items], page=query.page, per_page=query.per_page,
                     total=page.total or 0,
                     links=page_links(query.page, page.pages or 1, per_page=query.per_page))


@bp.get("/projects/<name>/builds/<int(min=1):build_id>")
@spec.validate(query=BuildWaitQuery, resp=Response(HTTP_200=BuildStatus, **ERRORS),
               tags=[TAG], operation_id="getBuild")
def build_get(name: str, build_id: int, query: BuildWaitQuery):
    """One build. With ?wait=N (at most 120, and the portal's API_WAIT_MAX) the answer waits
    until the build has ended or N seconds passed; `done` says which."""
    project, _role = project_for(name)
    limit = min(query.wait, int(current_app.config["API_WAIT_MAX"]))
    start = time.monotonic()
    build = builds.get(project, build_id)
    while build.status in OPEN_BUILD_STATUSES and time.monotonic() - start < limit:
        time.sleep(0.5)
        db.session.commit()  # a new transaction: the building thread writes the row meanwhile
        build = builds.get(project, build_id)
    return BuildStatus(**build_body(project, build).model_dump(), waited=round(time.monotonic() - start, 1))


@bp.get("/projects/<name>/builds/<int(min=1):build_id>/log")
@spec.validate(query=BuildLogQuery, resp=Response(HTTP_200=BuildLog, **ERRORS),
               tags=[TAG], operation_id="getBuildLog")
def build_log(name: str, build_id: int, query: BuildLogQuery):
    """The last `tail` lines of the build's log, as kept so far."""
    project, _role = project_for(name)
    build = builds.get(project, build_id)
    lines = builds.text(build.id).splitlines()
    return BuildLog(status=str(build.status), done=build.status not in OPEN_BUILD_STATUSES, total=len(lines),
                    lines=lines[-query.tail:])


@bp.post("/projects/<name>/builds")
@spec.validate(json=GitBuild, resp=Response(HTTP_201=Build, **CHANGE_ERRORS),
               tags=[TAG], operation_id="createBuild")
def build_create(name: str, json: GitBuild):
    """Build a Git repository at a ref into <project>/<name>:<tag> (developer). The source is
    fetched before the answer, so that an unreachable URL or an unknown ref is a 422 beside
    its field; then the build queues."""
    project, _role = project_for(name, Role.DEVELOPER)
    target = builds.Target(name=json.name, tag=json.tag, dockerfile=json.dockerfile,
                           build_args=_arg_lines(json.build_args))
    build = builds.submit_git(actor(), project, json.git_url, json.git_ref, json.git_path, target)
    return build_body(project, build), 201


@bp.post("/projects/<name>/builds/<int(min=1):build_id>/cancel")
@spec.validate(resp=Response(HTTP_200=Build, **CHANGE_ERRORS), tags=[TAG], operation_id="cancelBuild")
def build_cancel(name: str, build_id: int):
    """Cancel a queued build at once, or stop a going one (it ends cancelled shortly after;
    poll it). A build that has ended is a 422."""
    project, _role = project_for(name, Role.DEVELOPER)
    return build_body(project, builds.cancel(actor(), project, build_id))
