"""What a pipeline does to a running app: set the image, scale, roll back, restart, stop, start."""
from __future__ import annotations

from spectree import Response

from portal.api import schemas
from portal.api.apps import CHANGE_ERRORS, TAG, app_body, conflict
from portal.api.core import actor, bp, project_for, spec
from portal.models import Role
from portal.services import apps
from portal.services.errors import Conflict

CHANGED = Response(HTTP_200=schemas.App, **CHANGE_ERRORS)


@bp.put("/projects/<name>/apps/<app>/image")
@spec.validate(json=schemas.ImageChange, resp=CHANGED, tags=[TAG], operation_id="setAppImage")
def app_set_image(name: str, app: str, json: schemas.ImageChange):
    """Roll the app out to another image or tag. With `version` (as read from the app), a
    change of the app by someone else meanwhile is a 409 that says the current version."""
    project, _role = project_for(name, Role.DEVELOPER)
    apps.get(project, app)
    try:
        apps.set_image(project, app, json.image, json.tag or "", json.version, by=actor())
    except Conflict as error:
        return conflict(error, project, app)
    return app_body(apps.get(project, app))


@bp.put("/projects/<name>/apps/<app>/replicas")
@spec.validate(json=schemas.ScaleChange, resp=CHANGED, tags=[TAG], operation_id="scaleApp")
def app_scale(name: str, app: str, json: schemas.ScaleChange):
    """Set the number of replicas (not while an autoscaler manages them)."""
    project, _role = project_for(name, Role.DEVELOPER)
    return app_body(apps.scale(project, app, json.replicas, by=actor()))


@bp.post("/projects/<name>/apps/<app>/rollback")
@spec.validate(json=schemas.RollbackChange, resp=CHANGED, tags=[TAG], operation_id="rollbackApp")
def app_rollback(name: str, app: str, json: schemas.RollbackChange):
    """Run the pod template of an earlier revision again (kubectl rollout undo)."""
    project, _role = project_for(name, Role.DEVELOPER)
    apps.get(project, app)
    try:
        apps.rollback(project, app, json.revision, json.version, by=actor())
    except Conflict as error:
        return conflict(error, project, app)
    return app_body(apps.get(project, app))


def _simple(action, name: str, app: str):
    project, _role = project_for(name, Role.DEVELOPER)
    action(project, app, by=actor())
    return app_body(apps.get(project, app))


@bp.post("/projects/<name>/apps/<app>/restart")
@spec.validate(resp=CHANGED, tags=[TAG], operation_id="restartApp")
def app_restart(name: str, app: str):
    """Replace every pod, one by one, with the same settings."""
    return _simple(apps.restart, name, app)


@bp.post("/projects/<name>/apps/<app>/stop")
@spec.validate(resp=CHANGED, tags=[TAG], operation_id="stopApp")
def app_stop(name: str, app: str):
    """Scale to zero, remembering the count for start."""
    return _simple(apps.stop, name, app)


@bp.post("/projects/<name>/apps/<app>/start")
@spec.validate(resp=CHANGED, tags=[TAG], operation_id="startApp")
def app_start(name: str, app: str):
    """Scale back to the count before stop."""
    return _simple(apps.start, name, app)
