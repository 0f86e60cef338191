"""The adapter's own errors, a thin wrapper over the client's ApiException (as kopf does).

KubeError is the base: its `message` is trimmed and safe to show. NotConfigured (no
kubeconfig), Unavailable (connection errors, timeouts, 5xx, 429 after retries),
NotFound (404), Conflict (409), Invalid (422, with `causes`), Forbidden (403 and 401,
e.g. a quota refusal). Each is raised `from` the ApiException (or the connection
error) behind it.
"""
from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

__all__ = ["KubeError", "NotConfigured", "Unavailable", "NotFound", "Conflict", "Invalid",
           "Forbidden", "MESSAGE_LIMIT", "error_from", "short_reason"]

MESSAGE_LIMIT = 300


class KubeError(Exception):
    """Base class: `message` is short and safe to show to a user."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None, causes=()):
        message = " ".join(str(message).split())
        if len(message) > MESSAGE_LIMIT:
            message = message[:MESSAGE_LIMIT - 1] + "…"
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.causes: list[tuple[str, str]] = list(causes)  # (field path, message)


class NotConfigured(KubeError):
    pass


class Unavailable(KubeError):
    pass


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class Invalid(KubeError):
    status = 422


class Forbidden(KubeError):
    status = 403


def error_from(exc: ApiException) -> KubeError:
    """The KubeError for an API answer: the Status object's message and causes."""
    status = exc.status or 0
    message, causes = exc.reason or f"HTTP {status}", []
    try:
        body = json.loads(exc.body or "{}")
        message = body.get("message") or message
        for cause in (body.get("details") or {}).get("causes") or []:
            causes.append((cause.get("field", ""), cause.get("message", "")))
    except (ValueError, AttributeError):
        if exc.body:
            message = str(exc.body)
    kind = {404: NotFound, 409: Conflict, 422: Invalid, 403: Forbidden, 401: Forbidden}.get(status)
    if kind is None:
        kind = Unavailable if status == 0 or status >= 500 or status == 429 else KubeError
    return kind(message, status=status, causes=causes)


def short_reason(exc: BaseException) -> str:
    """A connection error in a few words (the innermost reason urllib3 gives)."""
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:120]
