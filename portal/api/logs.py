"""An app's logs: the last lines, or a stream of new lines as NDJSON (follow)."""
from __future__ import annotations

from flask import current_app, json
from spectree import Response
from werkzeug.wrappers import Response as StreamedResponse

from portal.api import schemas
from portal.api.apps import ERRORS, TAG
from portal.api.core import actor, bp, project_for, spec
from portal.services import apps, streams

NDJSON = "application/x-ndjson"


@bp.get("/projects/<name>/apps/<app>/logs")
@spec.validate(query=schemas.LogQuery, resp=Response(HTTP_200=schemas.Logs, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="getAppLogs")
def app_logs(name: str, app: str, query: schemas.LogQuery):
    """The last `tail` lines of the app's pods (or of `pod`), merged by time."""
    project, _role = project_for(name)
    lines = apps.logs(project, app, query.pod.strip() or None, query.tail)
    return schemas.Logs(lines=[schemas.LogLine(at=ts, pod=p, line=text) for ts, p, text in lines])


@bp.get("/projects/<name>/apps/<app>/logs/follow")
@spec.validate(query=schemas.FollowQuery, resp=Response(HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="followAppLogs")
def app_logs_follow(name: str, app: str, query: schemas.FollowQuery):
    """Follow the logs: a stream (200, application/x-ndjson) of one {"pod", "line"} object
    per line as the pods print it, and an empty object every 15 s of silence, until the time
    limit (LOG_FOLLOW_SECONDS) or the client goes away. One person may follow only so many
    streams at once: past that, a 429 with Retry-After."""
    project, _role = project_for(name)
    slot = streams.open_slot(actor().user)
    try:
        source = apps.follow(project, app, query.pod.strip() or None,
                             max_seconds=min(query.seconds, current_app.config.get("LOG_FOLLOW_SECONDS", 600)))
    except BaseException:
        slot.release()
        raise

    def lines():
        try:
            for pod_name, line in source:
                yield (json.dumps({"pod": pod_name, "line": line}) if pod_name else "{}") + "\n"
        finally:
            source.close()

    # A plain werkzeug Response: SpecTree passes it through as it is (a flask.Response it
    # would read whole, to check it against a model).
    response = StreamedResponse(lines(), mimetype=NDJSON)
    response.call_on_close(slot.release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
