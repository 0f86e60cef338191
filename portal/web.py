"""Request-side helpers shared by every blueprint: full page or fragment, errors, the actor."""
from __future__ import annotations

from flask import Flask, current_app, make_response, redirect, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.extensions import db, login_manager
from portal.models import User
from portal.services import users
from portal.services.context import Actor
from portal.services.errors import Forbidden, NotFound, ServiceError, Throttled


def wants_fragment() -> bool:
    """An htmx request that swaps one element of a page (HX-Target names it) gets a fragment.

    Boosted navigation, HX-Location moves and history restores swap the whole body
    and get the whole page, so that any URL htmx pushes into history also works on
    a plain load.
    """
    hx = request.htmx
    return (bool(hx) and bool(hx.target) and not hx.boosted
            and not hx.history_restore_request)


def render(page_template: str, fragment_template: str | None = None, status: int = 200,
           **context):
    """Render the fragment for an htmx request, else the full page. Adds Vary: HX-Request."""
    use_fragment = fragment_template and wants_fragment()
    template = fragment_template if use_fragment else page_template
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str):
    """After a change: a plain redirect, or for htmx an HX-Location so the page, not the
    swapped element, moves to `url` (and the URL lands in history)."""
    if request.htmx:
        response = make_response("", 200)
        response.headers["HX-Location"] = url
        return response
    return redirect(url)


def actor() -> Actor:
    addr = request.headers.get("X-Real-IP") if request.remote_addr == "127.0.0.1" else None
    return Actor(current_user._get_current_object(), addr or request.remote_addr or "")


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def paginate(stmt):
    """One page of a select, by ?page=N, at the configured page size."""
    return db.paginate(stmt, page=page_number(), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)


def _error_page(status: int, title: str, message: str):
    if wants_fragment():
        # htmx does not swap 4xx by default; the client shows the message in the toast.
        return render_template("_error_fragment.html", status=status, title=title,
                               message=message), status
    return render_template("error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        # "id:generation" (User.get_id): a session or remember cookie of an older generation
        # (before a logout, a password change, ...) no longer logs anyone in.
        return users.by_session_id(session_id)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _error_page(400, "Request refused",
                           f"{error.description} Reload the page and try again.")

    @app.errorhandler(Throttled)
    def throttled(error: Throttled):
        response = _error_page(429, "Too many attempts", error.message)
        return response[0], 429, {"Retry-After": str(error.retry_after)}

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        titles = {NotFound: "Not found", Forbidden: "Not allowed"}
        return _error_page(error.status, titles.get(type(error), "Cannot do that"), error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _error_page(error.code or 500, error.name, error.description or "")

    @app.context_processor
    def globals_for_templates():
        return {"fragment_request": wants_fragment()}

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
