"""The errors of the salt-api client (api.py) and its event stream (events.py)."""
from __future__ import annotations

import re

import requests

BODY_LIMIT = 500

__all__ = ["SaltError", "SaltUnavailable", "SaltAuthError", "SaltBadRequest", "trim", "error_for"]


class SaltError(Exception):
    """Base of every error this adapter raises."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


class SaltUnavailable(SaltError):
    """salt-api cannot be reached, timed out, or answered 5xx."""


class SaltAuthError(SaltError):
    """Bad credentials, an expired token, or a call the eauth does not allow (401/403)."""


class SaltBadRequest(SaltError):
    """salt-api refused the request (4xx other than 401/403)."""


_HTML_NOISE = re.compile(r"<(style|script|head)\b.*?</\1>", re.S | re.I)
_HTML_TAG = re.compile(r"<[^>]+>")


def trim(text: str, limit: int = BODY_LIMIT) -> str:
    """A short, readable error body: CherryPy's HTML error pages are reduced to their text."""
    text = (text or "").strip()
    if text.startswith("<") and "<html" in text[:500].lower():
        text = _HTML_TAG.sub(" ", _HTML_NOISE.sub(" ", text))
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def error_for(resp: requests.Response, what: str) -> SaltError:
    body = trim(resp.text)
    msg = f"salt-api {what}: HTTP {resp.status_code}" + (f": {body}" if body else "")
    if resp.status_code in (401, 403):
        return SaltAuthError(msg, resp.status_code, body)
    if resp.status_code >= 500:
        return SaltUnavailable(msg, resp.status_code, body)
    return SaltBadRequest(msg, resp.status_code, body)
