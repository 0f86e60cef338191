"""Request-side helpers shared by every blueprint: full page or fragment, errors, the actor."""
from __future__ import annotations

from flask import Flask, current_app, make_response, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from portal.extensions import client_address, db, login_manager
from portal.models import User
from portal.services import users
from portal.services.context import Actor
from portal.services.errors import Forbidden, NotFound, ServiceError, Throttled

# Static files and the health probe never load the logged-in user (nor touch the database
# for it): they must answer while the database hangs.
NO_USER_ENDPOINTS = frozenset({"static", "dashboard.healthz"})


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


def redirect_to(url: str, htmx_header: str = "HX-Location"):
    """After a change: a plain redirect, or for htmx an HX-Location so the page, not the
    swapped element, moves to `url` (and the URL lands in history). HX-Redirect instead
    loads the whole document anew."""
    if request.htmx:
        response = make_response("", 200)
        response.headers[htmx_header] = url
        return response
    return redirect(url)


def actor(user: User | None = None) -> Actor:
    """Who acts (the logged-in user, or `user` while logging in) and from where: the
    client's address as extensions.client_address reads it, for every event alike."""
    return Actor(user or current_user._get_current_object(), client_address())


MAX_PAGE = 100_000


def page_number() -> int:
    """?page=N as a number from 1 to MAX_PAGE: anything else (a word, a negative, a
    number too large for the database's OFFSET) reads as the first or the last page."""
    raw = request.args.get("page", "1").strip()
    if not raw.isascii() or not raw.isdigit():
        return 1
    if len(raw) > len(str(MAX_PAGE)):
        return MAX_PAGE
    return min(max(1, int(raw)), MAX_PAGE)


def paginate(stmt):
    """One page of a select, by ?page=N, at the configured page size; past the end, the last page."""
    per_page = current_app.config["PAGE_SIZE"]
    page = db.paginate(stmt, page=page_number(), per_page=per_page, error_out=False)
    if page.page > 1 and page.page > page.pages:
        page = db.paginate(stmt, page=max(1, page.pages), per_page=per_page, error_out=False)
    return page


def accepts_files(view=None, *, limit: str | None = None):
    """Mark a view that takes file uploads; every other view refuses a multipart file part.
    `limit` names the config key of the largest body this view takes (instead of
    MAX_CONTENT_LENGTH), applied before anything reads the body; such a view must be
    exempt from CSRFProtect (whose hook reads the form first) and check the token itself."""
    def mark(function):
        function.accepts_files = True
        function.body_limit = limit
        return function
    return mark(view) if view is not None else mark


def _i18n_marks() -> None:
    """Messages that other libraries show, marked here so that pybabel extracts them (Flask-Login's
    CSRF reasons); never called."""
    _("The CSRF token is missing.")
    _("The CSRF session token is missing.")
    _("The CSRF token is invalid.")
    _("The CSRF token has expired.")
    _("The CSRF tokens do not match.")
    _("The referrer header is missing.")
    _("The referrer does not match the host.")


def http_words(error: HTTPException) -> tuple[str, str]:
    """The error's name and description in the user's language: werkzeug's own words for the
    common codes; a description the portal gave (abort(403, _("..."))) is translated already."""
    code = error.code or 500
    names = {400: _("Bad Request"), 401: _("Unauthorized"), 403: _("Forbidden"), 404: _("Not Found"),
             405: _("Method Not Allowed"), 409: _("Conflict"), 413: _("Request Entity Too Large"),
             422: _("Unprocessable Entity"), 429: _("Too Many Requests"),
             500: _("Internal Server Error"), 503: _("Service Unavailable")}
    description = error.description or ""
    if description == type(error).description:
        description = _default_description(code) or description
    return names.get(code, error.name), description


def _default_description(code: int | None) -> str:
    return {
        400: _("The browser (or proxy) sent a request that this server could not understand."),
        403: _("You don't have the permission to access the requested resource. It is either "
               "read-protected or not readable by the server."),
        404: _("The requested URL was not found on the server. If you entered the URL manually "
               "please check your spelling and try again."),
        405: _("The method is not allowed for the requested URL."),
        500: _("The server encountered an internal error and was unable to complete your "
               "request. Either the server is overloaded or there is an error in the application."),
    }.get(code or 500, "")


def _error_page(status: int, title: str, message: str):
    if request.path == "/api/v1" or request.path.startswith("/api/v1/"):
        from portal.api.problems import problem  # the API answers every error as problem+json
        return problem(status, title, message), status
    if wants_fragment():
        # base.html's htmx-config (responseHandling) swaps 4xx and 5xx answers too: the
        # message takes the place of the element that made the request.
        return render_template("_error_fragment.html", status=status, title=title,
                               message=message), status
    return render_template("error.html", status=status, title=title, message=message), status


class RowId(IntegerConverter):
    """<int:...> in a URL, bounded to what a 64-bit id column holds: a longer number is
    a 404 like any other missing row, not an OverflowError in the database driver."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2 ** 63 - 1, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


# Every response: only the portal's own scripts, styles and connections; no framing.
# htmx runs without eval and injects no styles (the htmx-config meta tag in base.html).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
    "font-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'self'",
    "base-uri 'self'", "object-src 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class _Forwarded:
    """X-Forwarded-For/-Proto/-Host count only from the last PROXY_COUNT hops (werkzeug's
    ProxyFix); with 0, the default, nothing a client sends changes remote_addr. The count
    is read per request, so tests (and a reconfigured app) need no new middleware."""

    def __init__(self, app: Flask):
        self.app, self.wsgi_app, self.fixes = app, app.wsgi_app, {}

    def __call__(self, environ, start_response):
        count = max(0, int(self.app.config.get("PROXY_COUNT") or 0))
        if not count:
            return self.wsgi_app(environ, start_response)
        fix = self.fixes.get(count)
        if fix is None:
            fix = self.fixes[count] = ProxyFix(self.wsgi_app, x_for=count, x_proto=count,
                                               x_host=count)
        return fix(environ, start_response)


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


def init_app(app: Flask) -> None:
    app.wsgi_app = _Forwarded(app)
    app.url_map.converters["int"] = RowId
    login_manager.login_view = "auth.login"
    # In the user's language; flashed as plain text (a lazy string would not fit in the session).
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.localize_callback = str
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        if request.endpoint in NO_USER_ENDPOINTS:
            return None  # served without the database, even when it hangs
        # "id:generation" (User.get_id): a session or remember cookie of an older generation
        # (before a logout, a password change, ...) no longer logs anyone in.
        return users.by_session_id(session_id)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _error_page(400, _("Request refused"),
                           _("%(reason)s Reload the page and try again.", reason=_(error.description)))

    @app.errorhandler(Throttled)
    def throttled(error: Throttled):
        response = _error_page(429, _("Too many attempts"), error.message)
        return response[0], 429, {"Retry-After": str(error.retry_after)}

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        titles = {NotFound: _("Not found"), Forbidden: _("Not allowed")}
        return _error_page(error.status, titles.get(type(error)) or _("Cannot do that"), error.message)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        # MAX_CONTENT_LENGTH bounds every body; MAX_FORM_MEMORY_SIZE and MAX_FORM_PARTS
        # bound the text fields and the parts of a multipart form within it.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        message = (_("The request is larger than the portal accepts (at most %(size)s per request). "
                     "Send less and try again.", size=_size(limit)) if limit
                   else _("The request is larger than the portal accepts. Send less and try again."))
        return _error_page(413, _("Request too large"), message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        name, description = http_words(error)
        return _error_page(error.code or 500, name, description)

    from portal import templating
    templating.init_app(app)

    @app.before_request
    def refuse_unexpected_files():
        """A file part where a text field belongs would reach the forms as a FileStorage;
        answer 400 with the reason instead (before CSRF, login or any form sees it)."""
        if request.method not in ("POST", "PUT", "PATCH") or not request.mimetype.startswith("multipart/"):
            return None
        view = current_app.view_functions.get(request.endpoint or "")
        if getattr(view, "accepts_files", False):
            if getattr(view, "body_limit", None):
                request.max_content_length = int(current_app.config[view.body_limit])
            return None
        if request.files:
            names = ", ".join(sorted(set(request.files)))[:200]
            return _error_page(400, _("Bad request"),
                               _("This form takes no file uploads; send %(names)s as text.", names=names))
        return None

    @app.context_processor
    def globals_for_templates():
        return {"fragment_request": wants_fragment()}

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
