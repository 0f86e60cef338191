"""Errors the services raise; routes turn them into messages or status codes."""
from __future__ import annotations


class ServiceError(Exception):
    """Base class: `message` is safe to show to the user, in the user's language (a lazy
    message, such as a module's constant, is read in that language when raised)."""

    status = 400

    def __init__(self, message: str):
        message = str(message)
        super().__init__(message)
        self.message = message


class Invalid(ServiceError):
    """Bad input. `field` names the form field the message belongs beside."""

    status = 422

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Throttled(ServiceError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ServiceError):
    """The cluster is not configured or not reachable: a banner, or a 503."""

    status = 503


class Conflict(ServiceError):
    """Someone changed the object meanwhile (a 409 from the API server)."""

    status = 409
