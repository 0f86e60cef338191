"""Retention (keep the newest N tags per repository) and public images: the retention page
lists the project's repositories, what retention would delete, and (for admins) the switch
that makes a repository public."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField

from portal.images import bp
from portal.models import Role
from portal.services import authz
from portal.services.errors import Conflict, Invalid, ServiceError
from portal.services.images import access, public, retention
from portal.web import actor, redirect_to, render


class RetentionForm(FlaskForm):
    keep_tags = StringField(_l("Tags to keep per repository"),
                            description=_l("The newest N tags of each repository stay; empty keeps every tag."))


class ApplyForm(FlaskForm):
    token = HiddenField()


class PublicForm(FlaskForm):
    repository = HiddenField()
    public = HiddenField()


@bp.before_request
@login_required
def require_login():
    """Every image URL needs a logged-in user."""


def _page(project, role, form=None, status=200, conflict=""):
    if form is None:
        form = RetentionForm(formdata=None, data={"keep_tags": str(project.keep_tags or "")})
    plan, problem = None, ""
    try:
        plan = retention.compute(project)
    except ServiceError as error:
        problem = error.message
    apply_form = ApplyForm(formdata=None, data={"token": plan.token if plan else ""})
    return render("images/retention.html", None, status=status, project=project, role=role, form=form,
                  plan=plan, problem=problem, conflict=conflict, apply_form=apply_form,
                  may_change=role.at_least(Role.OWNER), may_publish=current_user.is_admin,
                  configured=access.configured())


@bp.route("/retention")
def retention_page(name):
    project, role = authz.get_project(current_user, name, Role.VIEWER)
    return _page(project, role)


@bp.route("/retention", methods=["POST"])
def retention_save(name):
    project, role = authz.get_project(current_user, name, Role.OWNER)
    form = RetentionForm()
    if not form.validate_on_submit():
        form.form_errors.append(_("The form could not be read (its security token may have "
                                  "expired); reload the page and try again."))
        return _page(project, role, form, status=400)
    try:
        keep = retention.set_keep(actor(), project, form.keep_tags.data)
    except Invalid as error:
        form.keep_tags.errors = [error.message]
        return _page(project, role, form, status=422)
    flash(_("Retention saved: the newest %(num)d tags of each repository are kept.", num=keep) if keep
          else _("Retention saved: every tag is kept."), "success")
    return redirect_to(url_for("images.retention_page", name=name))


@bp.route("/retention/apply", methods=["POST"])
def retention_apply(name):
    project, role = authz.get_project(current_user, name, Role.OWNER)
    form = ApplyForm()
    form.validate_on_submit()
    try:
        removed = retention.apply(actor(), project, form.token.data or "")
    except Conflict as error:
        return _page(project, role, status=409, conflict=error.message)
    if removed:
        flash(_("%(num)d old tags removed. Their storage is freed by the next garbage collection.", num=removed),
              "success")
    else:
        flash(_("Nothing to remove."), "info")
    return redirect_to(url_for("images.retention_page", name=name))


@bp.route("/public", methods=["POST"])
def public_switch(name):
    authz.require_admin(current_user)
    project, _role = authz.get_project(current_user, name, Role.VIEWER)
    form = PublicForm()
    form.validate_on_submit()
    wanted = (form.public.data or "").strip()
    if wanted not in ("0", "1"):
        raise Invalid("public", _("Say public=1 (make public) or public=0 (make private)."))
    repository = public.check(project, form.repository.data or "")
    public.set_public(actor(), project, repository, wanted == "1")
    flash(_("%(repo)s is public: every project can list and deploy it.", repo=repository) if wanted == "1"
          else _("%(repo)s is private to its project again.", repo=repository), "success")
    back = request.form.get("next", "")
    if not back.startswith(f"/projects/{name}/") or back.startswith("//"):
        back = url_for("images.retention_page", name=name)
    return redirect_to(back)
