"""The API blueprint: bearer tokens, rate limits per token, problem+json errors."""
from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, g, request
from flask_babel import gettext as _
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import HTTPException

from portal.api import schemas
from portal.api.problems import from_service_error, problem
from portal.extensions import breach_message, client_address, limiter
from portal.models import Role
from portal.services import authz, tokens
from portal.services.context import Actor
from portal.services.errors import ServiceError

PREFIX = "/api/v1"
PUBLIC_ENDPOINTS = {"api.openapi", "api.docs"}

bp = Blueprint("api", __name__, url_prefix=PREFIX)


def _validation_failed(req, resp, error, instance, model_adapter) -> None:
    """SpecTree's check of the body or query failed: a 422 problem with a pointer per field."""
    if error is None:
        return
    errors = {}
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ())]
        errors["-".join(loc) or "body"] = item.get("msg", "")
    abort(problem(422, _("Unprocessable Entity"), _("The request does not have the documented shape."),
                  errors))


spec = SpecTree(
    "flask", mode="strict", page_templates={}, before=_validation_failed,
    naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda parent, child: child,
    title="Hummer API", version="1",
    description="Ship to Hummer from CI: projects, apps, rollouts and logs.",
    security_schemes=[SecurityScheme(name="token", data=SecuritySchemeData(
        type="http", scheme="bearer", bearer_format="hmr_...", description="A personal access token."))],
    security={"token": []},
)


def _token_key() -> str:
    """The rate limit's key: the token (by a hash of what was sent), else the address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "addr:" + client_address()


def _api_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def _api_address_limit() -> str:
    return current_app.config["API_ADDRESS_RATE_LIMIT"]


limiter.limit(_api_limit, key_func=_token_key, error_message=lambda: breach_message("requests"))(bp)
limiter.limit(_api_address_limit, key_func=client_address, error_message=lambda: breach_message("requests"))(bp)


@bp.before_request
def authenticate():
    """Only a bearer token authenticates; a session cookie counts for nothing here."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    token = tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return problem(401, _("Unauthorized"),
                       _("Send a valid API token: Authorization: Bearer hmr_... (tokens are made on "
                         "the profile page; an expired or revoked one no longer works)."),
                       headers={"WWW-Authenticate": 'Bearer realm="hummer"'})
    g.api_actor = Actor(token.user, client_address(), token)
    return None


def actor() -> Actor:
    return g.api_actor


def project_for(name: str, need: Role = Role.VIEWER):
    """The project and the token's role there; 404 outside the token's scope."""
    return authz.get_project(actor(), name, need)


@bp.errorhandler(ServiceError)
def service_error(error: ServiceError):
    return from_service_error(error)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    from portal.web import http_words
    if error.response is not None:  # abort(problem(...)) and SpecTree's own answers
        return error.response
    name, description = http_words(error)
    return problem(error.code or 500, name, description)


def page_links(page: int, pages: int, **args) -> schemas.Links:
    """Absolute links to the next and previous pages of this request's URL with `args` (None
    at either end)."""
    def link(number: int) -> str:
        return request.base_url + "?" + urlencode({**args, "page": number})
    return schemas.Links(next=link(page + 1) if page < pages else None,
                         prev=link(page - 1) if page > 1 else None)


def is_api_request() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")
