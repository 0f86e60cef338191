"""Apps: list, get, create (the deploy form's fields), replace its settings, delete, and the
status a CI step polls until the rollout is over (?wait=)."""
from __future__ import annotations

import time

from flask import current_app
from spectree import Response

from portal.api import schemas
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.api.problems import from_service_error
from portal.models import Role
from portal.services import apps
from portal.services.errors import Conflict

TAG = "apps"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_429": schemas.Problem,
          "HTTP_503": schemas.Problem}
CHANGE_ERRORS = {**ERRORS, "HTTP_403": schemas.Problem, "HTTP_409": schemas.Problem, "HTTP_422": schemas.Problem}


def app_body(view) -> schemas.App:
    return schemas.App(name=view.name, project=view.namespace, image=view.image, status=view.status,
                       desired=view.desired, ready=view.ready, updated=view.updated, available=view.available,
                       generation=view.generation, observed_generation=view.observed, revision=view.revision,
                       version=view.template_hash, stalled=view.stalled or "", created=view.created or "")


def conflict(error: Conflict, project, name: str):
    """A 409 that says where the app is now: its generation and version, to read and retry."""
    try:
        now = apps.get(project, name)
    except Exception:  # gone meanwhile, or the cluster went away: the 409 says what it can
        return from_service_error(error)
    return from_service_error(error, generation=now.generation, version=now.template_hash)


@bp.get("/projects/<name>/apps")
@spec.validate(query=schemas.AppListQuery,
               resp=Response(HTTP_200=schemas.AppList, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="listApps")
def app_list(name: str, query: schemas.AppListQuery):
    """The project's apps, by name; `q` filters on name or image, `status` on the status."""
    project, _role = project_for(name)
    page = apps.listing(project, query.q, query.status, query.page, query.per_page)
    args = {"per_page": query.per_page, **({"q": query.q} if query.q else {}),
            **({"status": query.status} if query.status else {})}
    return schemas.AppList(items=[app_body(a) for a in page.items], page=page.page, per_page=page.per_page,
                           total=page.total, links=page_links(page.page, page.pages, **args))


@bp.get("/projects/<name>/apps/<app>")
@spec.validate(resp=Response(HTTP_200=schemas.App, **ERRORS), tags=[TAG], operation_id="getApp")
def app_get(name: str, app: str):
    """One app: its image, replicas and rollout."""
    project, _role = project_for(name)
    return app_body(apps.get(project, app))


@bp.post("/projects/<name>/apps")
@spec.validate(json=schemas.NewApp, resp=Response(HTTP_201=schemas.App, **CHANGE_ERRORS),
               tags=[TAG], operation_id="createApp")
def app_create(name: str, json: schemas.NewApp):
    """Deploy a new app from the deploy form's fields (developer)."""
    project, _role = project_for(name, Role.DEVELOPER)
    created = apps.deploy(project, json.model_dump(exclude_none=True), by=actor())
    return app_body(apps.get(project, created.name)), 201


@bp.put("/projects/<name>/apps/<app>")
@spec.validate(json=schemas.Replacement, resp=Response(HTTP_200=schemas.App, **CHANGE_ERRORS),
               tags=[TAG], operation_id="replaceApp")
def app_replace(name: str, app: str, json: schemas.Replacement):
    """Replace the app's settings, as the edit page does: everything but the name, the
    image and the replicas (those have their own calls). Fields left out are emptied.
    With `version` (as read from the app), a change of its pod template by someone else
    meanwhile is a 409 that says the current version."""
    project, _role = project_for(name, Role.DEVELOPER)
    apps.get(project, app)
    settings = json.model_dump(exclude_none=True, exclude={"version"})
    try:
        apps.edit(project, app, settings, None, by=actor(), template_version=json.version)
    except Conflict as error:
        return conflict(error, project, app)
    return app_body(apps.get(project, app))


@bp.delete("/projects/<name>/apps/<app>")
@spec.validate(resp=Response(HTTP_200=schemas.Deleted, **CHANGE_ERRORS), tags=[TAG], operation_id="deleteApp")
def app_delete(name: str, app: str):
    """Delete the app: its autoscaler, Services and Deployment (developer)."""
    project, _role = project_for(name, Role.DEVELOPER)
    return schemas.Deleted(deleted=apps.delete(project, app, app, by=actor()))


def _done(view) -> bool:
    return view.status in ("running", "stopped", "stalled")


@bp.get("/projects/<name>/apps/<app>/status")
@spec.validate(query=schemas.WaitQuery, resp=Response(HTTP_200=schemas.Status, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="getAppStatus")
def app_status(name: str, app: str, query: schemas.WaitQuery):
    """The app's rollout. With ?wait=N (at most 120, and the portal's API_WAIT_MAX) the
    answer waits until the rollout is over (running, stopped or stalled) or N seconds
    passed; `done` says which."""
    project, _role = project_for(name)
    limit = min(query.wait, int(current_app.config["API_WAIT_MAX"]))
    start = time.monotonic()
    view = apps.get(project, app)
    while not _done(view) and time.monotonic() - start < limit:
        time.sleep(0.5)  # the watch cache follows the cluster: re-reading it costs no API call
        view = apps.get(project, app)
    return schemas.Status(**app_body(view).model_dump(), done=_done(view),
                          waited=round(time.monotonic() - start, 1))
