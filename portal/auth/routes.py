import re
from urllib.parse import urlsplit

from flask import current_app, flash, g, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import bp
from portal.auth import tokens as tokens_page
from portal.auth.forms import ChangePasswordForm, LoginForm
from portal.extensions import breach_message, client_address, db, limiter
from portal.forms import attach
from portal.services import audit, users
from portal.services.errors import Invalid
from portal.web import actor, redirect_to, render

LOGIN_FAILED = _l("Wrong username or password, or the account is locked or disabled.")

# A plain same-site path: "/" then URL characters, never "//host", "/\\host", a scheme,
# whitespace, control characters (CR/LF) or backslashes.
_PLAIN_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")


def safe_next(target: str | None) -> str:
    """Only plain same-site paths: never another host after login (plain or HX-Redirect)."""
    if target and len(target) <= 2048 and _PLAIN_PATH.fullmatch(target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("dashboard.index")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# The same per-address limit guards every form that checks a password.
password_limit = limiter.limit(_login_limit, methods=["POST"],
                               error_message=lambda: breach_message("login attempts"))


def _new_document(url: str):
    """After a login the whole document must be loaded anew: its <body> carries the CSRF
    token for htmx (hx-headers), which the login rotated and which HX-Location (a swap of
    the body's content) would leave stale. So htmx gets HX-Redirect, a full page load."""
    return redirect_to(url, htmx_header="HX-Redirect")


def _rotate_csrf_token() -> None:
    """A new CSRF token for the new session (Flask-WTF makes one when none is stored)."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


@bp.route("/login", methods=["GET", "POST"])
@password_limit
def login():
    if current_user.is_authenticated:
        return redirect_to(url_for("dashboard.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data, client_address())
        if user is None:
            # One answer for every failure: unknown, wrong password, disabled or locked.
            form.password.errors.append(str(LOGIN_FAILED))
            status = 401
        else:
            login_user(user, remember=form.remember.data)
            _rotate_csrf_token()
            audit.record(actor(user), "user.login", "user", user.username)
            db.session.commit()
            return _new_document(safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 422
    return render("auth/login.html", form=form, status=status)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    users.logout(by=actor())
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect_to(url_for("auth.login"))


@bp.route("/profile")
@login_required
def profile():
    return tokens_page.profile_page()


@bp.route("/profile/password", methods=["POST"])
@login_required
@password_limit
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            users.change_own_password(form.current_password.data, form.password.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            # Every other session has ended; this one goes on under the new generation.
            remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
            login_user(current_user._get_current_object(), remember=remember in request.cookies)
            flash(_("Your password is changed. Your other sessions are logged out."), "success")
            return redirect_to(url_for("auth.profile"))
    return tokens_page.profile_page(status=422, password_form=form)


@bp.route("/profile/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    users.logout_everywhere(by=actor())
    logout_user()
    flash(_("You are logged out everywhere, on every device."), "info")
    return redirect_to(url_for("auth.login"))
