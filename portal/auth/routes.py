from urllib.parse import urlsplit

from flask import flash, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from portal.auth import bp
from portal.auth.forms import LoginForm
from portal.services import audit, users
from portal.services.context import Actor
from portal.services.errors import Throttled
from portal.extensions import db
from portal.web import redirect_to, render


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after login."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect_to(url_for("dashboard.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.username.data, form.password.data,
                                      request.remote_addr or "")
        except Throttled as error:
            form.password.errors.append(error.message)
            return render("auth/login.html", form=form, status=429)
        if user is None:
            form.password.errors.append("Wrong username or password.")
            status = 401
        elif user.disabled:
            form.username.errors.append("This account is disabled. Ask an administrator.")
            status = 403
        else:
            login_user(user, remember=form.remember.data)
            audit.record(Actor(user, request.remote_addr or ""), "user.login", "user", user.username)
            db.session.commit()
            return redirect_to(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 422
    return render("auth/login.html", form=form, status=status)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect_to(url_for("auth.login"))
