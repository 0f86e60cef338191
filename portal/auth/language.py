"""The language choice: on the profile page (stored with the user) and the footer's switch
(stored with the user, or in the session of a visitor who is not logged in).

Both are plain forms that post with the CSRF token; the answer loads the whole document
anew (HX-Redirect for htmx), so that <html lang> and every string change with it.
"""
from __future__ import annotations

from flask import current_app, flash, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from portal import i18n
from portal.auth import bp
from portal.services import preferences
from portal.web import redirect_to

AUTOMATIC = ""


class LanguageForm(FlaskForm):
    language = SelectField(
        _l("Language"),
        choices=[SelectChoice(AUTOMATIC, _l("Automatic (browser)"))]
        + [SelectChoice(code, name) for code, name in i18n.NAMES.items()],
        description=_l("Automatic follows the languages your browser asks for."))


def form_for(user) -> LanguageForm:
    """The profile page's form, showing the user's stored choice."""
    return LanguageForm(formdata=None, language=i18n.known(user.locale) or AUTOMATIC)


def _reload(url: str):
    return redirect_to(url, htmx_header="HX-Redirect")


def return_path(target: str | None) -> str:
    """Where the switch goes back to: a same-site path (safe_next) that answers GET, else the dashboard."""
    from portal.auth.routes import safe_next  # routes.py imports this module
    path = safe_next(target)
    try:
        current_app.url_map.bind("localhost").match(path.split("?", 1)[0], method="GET")
    except HTTPException:  # 404, 405 (a POST-only URL): nothing to go back to
        return url_for("dashboard.index")
    return path


@bp.route("/profile/language", methods=["POST"])
@login_required
def change_language():
    form = LanguageForm()
    if form.validate_on_submit():
        preferences.set_language(current_user, form.language.data)
        session.pop(i18n.SESSION_KEY, None)
        refresh()  # the flash below speaks the new language
        flash(_("Language saved."), "success")
        return _reload(url_for("auth.profile"))
    from portal.auth.tokens import profile_page
    return profile_page(status=422, language_form=form)


@bp.route("/language", methods=["POST"])
def switch_language():
    """The footer's switch: `language` and `next`, the page to go back to. A language we do
    not ship is refused (422, preferences.language) and changes nothing."""
    code = preferences.language(request.form.get("language"))
    if current_user.is_authenticated:
        preferences.set_language(current_user, code)
        session.pop(i18n.SESSION_KEY, None)
    elif code:
        session[i18n.SESSION_KEY] = code
    else:
        session.pop(i18n.SESSION_KEY, None)
    return _reload(return_path(request.form.get("next")))
