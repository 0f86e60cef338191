"""Errors as RFC 9457 problem details (application/problem+json), with the field errors
the pages show beside their fields."""
from __future__ import annotations

import re

from flask import Response, json
from flask_babel import gettext as _

from portal.services.errors import Invalid, ServiceError

MEDIA_TYPE = "application/problem+json"
_ROW = re.compile(r"^([a-z_]+)-(\d+)-([a-z_]+)$")
_PART = re.compile(r"^(readiness|liveness)-([a-z_]+)$")


def pointer(field: str) -> str:
    """A form field id as a JSON Pointer into the request body: "ports-1-container_port" ->
    "/ports/1/container_port", "readiness-port" -> "/readiness/port", "image" -> "/image"."""
    row = _ROW.match(field)
    if row:
        return f"/{row[1]}/{row[2]}/{row[3]}"
    part = _PART.match(field)
    if part:
        return f"/{part[1]}/{part[2]}"
    return "/" + field


def problem(status: int, title: str, detail: str = "", errors: dict[str, str] | None = None,
            headers: dict | None = None, **extra) -> Response:
    body = {"type": "about:blank", "title": str(title), "status": status}
    if detail:
        body["detail"] = str(detail)
    if errors:
        body["errors"] = [{"field": field, "pointer": pointer(field), "message": str(message)}
                          for field, message in errors.items()]
    body.update({key: value for key, value in extra.items() if value is not None})
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def title(status: int) -> str:
    titles = {400: _("Bad Request"), 404: _("Not found"), 403: _("Not allowed"), 409: _("Conflict"),
              411: _("Length Required"), 413: _("Content Too Large"), 415: _("Unsupported Media Type"),
              422: _("Unprocessable Entity"), 429: _("Too Many Requests"), 503: _("Service Unavailable")}
    return titles.get(status) or _("Cannot do that")


def from_service_error(error: ServiceError, **extra) -> Response:
    errors = None
    if isinstance(error, Invalid):
        errors = dict(getattr(error, "errors", None) or ({error.field: error.message} if error.field else {}))
    headers = {"Retry-After": str(error.retry_after)} if hasattr(error, "retry_after") else None
    status = error.status
    return problem(status, title(status), error.message, errors,
                   headers, **extra)
