"""Administration: users, resource plans, the global audit log. Admins only."""
from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.admin import bp
from portal.admin.forms import PasswordForm, PlanForm, UserForm
from portal.forms import attach
from portal.services import audit, plans, users
from portal.services.errors import Invalid
from portal.web import actor, paginate, redirect_to, render


@bp.before_request
@login_required
def require_admin():
    if not current_user.is_admin:
        abort(403, _("Only an administrator may open this page."))


# Users -----------------------------------------------------------------------

@bp.route("/users")
def user_list():
    q = request.args.get("q", "").strip()
    return render("admin/users.html", "admin/_user_rows.html", page=paginate(users.listing(q)),
                  q=q, consequence=disable_consequence)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = users.create(form.username.data, form.password.data, form.email.data or "",
                                form.is_admin.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect_to(url_for("admin.user_list"))
    return render("admin/user_new.html", form=form, status=422 if form.errors else 200)


def disable_consequence(user) -> str:
    return _("%(name)s can no longer log in, and is logged out at their next request. "
             "Their projects and memberships stay: enable the account to give the access back.",
             name=user.username)


@bp.route("/users/<int:user_id>/disable", methods=["GET", "POST"])
def user_disable(user_id):
    if request.method == "GET":  # the confirm page, for browsers without JavaScript
        user = users.get(user_id)
        return render("_confirm.html", question=_("Disable %(name)s?", name=user.username),
                      consequence=disable_consequence(user), label=_("Disable %(name)s", name=user.username),
                      action=url_for("admin.user_disable", user_id=user.id),
                      cancel=url_for("admin.user_list"))
    return _set_disabled(user_id, True)


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
def user_enable(user_id):
    return _set_disabled(user_id, False)


def _set_disabled(user_id, disabled):
    user = users.get(user_id)
    error = None
    try:
        users.set_disabled(user, disabled, by=actor())
    except Invalid as exc:
        error = exc.message
    if request.htmx:
        saved = "" if error else (_("%(name)s disabled.", name=user.username) if disabled
                                  else _("%(name)s enabled.", name=user.username))
        return render("admin/_user_row.html", u=user, row_error=error,
                      saved_message=saved, consequence=disable_consequence,
                      status=422 if error else 200)
    done = (_("User %(name)s disabled.", name=user.username) if disabled
            else _("User %(name)s enabled.", name=user.username))
    flash(error or done, "error" if error else "success")
    return redirect_to(url_for("admin.user_list"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
def user_password(user_id):
    user = users.get(user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            users.reset_password(user, form.password.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Password of %(name)s reset.", name=user.username), "success")
            return redirect_to(url_for("admin.user_list"))
    return render("admin/user_password.html", user=user, form=form,
                  status=422 if form.errors else 200)


# Resource plans --------------------------------------------------------------

@bp.route("/plans")
def plan_list():
    return render("admin/plans.html", plans=plans.all_plans(),
                  consequence=plan_delete_consequence)


@bp.route("/plans/new", methods=["GET", "POST"])
def plan_new():
    return _plan_form(None)


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def plan_edit(plan_id):
    return _plan_form(plans.get(plan_id))


def _plan_form(plan):
    form = PlanForm(obj=plan)
    if form.validate_on_submit():
        values = {f: getattr(form, f).data for f in plans.FIELDS}
        try:
            saved = plans.save(form.name.data, values, form.is_default.data, by=actor(), plan=plan)
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Plan %(name)s saved.", name=saved.name), "success")
            return redirect_to(url_for("admin.plan_list"))
    return render("admin/plan_form.html", form=form, plan=plan,
                  status=422 if form.errors else 200)


def plan_delete_consequence(plan) -> str:
    if plan.is_default:
        return _("%(name)s is the default plan: the deploy form then preselects none, and new "
                 "projects get no default requests and limits (LimitRange) until another plan is "
                 "made the default. Running apps keep their resources.", name=plan.name)
    return _("The deploy form no longer offers %(name)s. Apps deployed with it keep their "
             "requests and limits.", name=plan.name)


@bp.route("/plans/<int:plan_id>/delete", methods=["GET", "POST"])
def plan_delete(plan_id):
    plan = plans.get(plan_id)
    if request.method == "GET":  # the confirm page, for browsers without JavaScript
        return render("_confirm.html", question=_("Delete plan %(name)s?", name=plan.name),
                      consequence=plan_delete_consequence(plan), label=_("Delete %(name)s", name=plan.name),
                      action=url_for("admin.plan_delete", plan_id=plan.id),
                      cancel=url_for("admin.plan_list"))
    plans.delete(plan, by=actor())
    if request.htmx:
        return ""  # the row goes away
    flash(_("Plan %(name)s deleted.", name=plan.name), "success")
    return redirect_to(url_for("admin.plan_list"))


# Audit -----------------------------------------------------------------------

@bp.route("/audit")
def audit_log():
    q = request.args.get("q", "").strip()
    return render("admin/audit.html", "audit/_rows.html", page=paginate(audit.query(None, q)), q=q)
