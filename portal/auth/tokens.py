"""The profile page's API tokens: create (the secret shown once), list, revoke."""
from __future__ import annotations

from datetime import date, timedelta

from flask import flash, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from portal.auth import bp, language
from portal.auth.forms import ChangePasswordForm
from portal.extensions import db
from portal.forms import attach
from portal.models import ROLE_CHOICE_LABELS
from portal.services import projects, tokens
from portal.services.errors import Invalid
from portal.web import actor, redirect_to, render


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), description=_l("What it is for, such as ci-deploy."))
    expires = DateField(_l("Expires on"), validators=[InputRequired(_l("Choose when the token expires."))],
                        description=_l("At most a year from today."))
    ceiling = SelectField(_l("Role"), choices=[SelectChoice("viewer", ROLE_CHOICE_LABELS["viewer"]),
                                               SelectChoice("developer", ROLE_CHOICE_LABELS["developer"])],
                          description=_l("In each project the token gets this role or your own, "
                                         "whichever is lower."))
    scope = RadioField(_l("Projects"), choices=[SelectChoice("all", _l("All of my projects")),
                                                SelectChoice("chosen", _l("Only the projects chosen below"))],
                       default="all")
    projects = SelectMultipleField(_l("Chosen projects"), choices=[], validate_choice=False)


def token_form(submitted: bool = False) -> TokenForm:
    form = TokenForm() if submitted else TokenForm(formdata=None)
    if not submitted:
        form.expires.data = date.today() + timedelta(days=90)
    mine = db.session.scalars(projects.visible_to(current_user).limit(500))
    form.projects.choices = [SelectChoice(p.name, p.name) for p in mine]
    return form


def profile_page(status: int = 200, password_form=None, new_token_form=None, created=None,
                 language_form=None):
    return render("auth/profile.html", status=status,
                  form=password_form or ChangePasswordForm(formdata=None),
                  language_form=language_form or language.form_for(current_user),
                  token_form=new_token_form or token_form(), tokens=tokens.of_user(current_user),
                  created=created)


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def token_create():
    form = token_form(submitted=True)
    if form.validate_on_submit():
        try:
            created = tokens.create(form.name.data, form.expires.data, form.ceiling.data,
                                    form.scope.data != "chosen", form.projects.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            # The secret is in this answer only: never stored, never flashed into the session.
            return profile_page(new_token_form=token_form(), created=created)
    return profile_page(status=422, new_token_form=form)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def token_revoke(token_id):
    name = tokens.revoke(token_id, by=actor())
    flash(_("The token %(name)s is revoked: it no longer works.", name=name), "success")
    return redirect_to(url_for("auth.profile") + "#tokens")
