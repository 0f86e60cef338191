"""Administration: users, resource plans, the global audit log. Admins only."""
from flask import abort, flash, request, url_for
from flask_login import current_user, login_required

from portal.admin import bp
from portal.admin.forms import PasswordForm, PlanForm, UserForm
from portal.forms import attach
from portal.projects.forms import EmptyForm
from portal.services import audit, plans, users
from portal.services.errors import Invalid
from portal.web import actor, paginate, redirect_to, render


@bp.before_request
@login_required
def require_admin():
    if not current_user.is_admin:
        abort(403, "Only an administrator may open this page.")


# Users -----------------------------------------------------------------------

@bp.route("/users")
def user_list():
    q = request.args.get("q", "").strip()
    return render("admin/users.html", "admin/_user_rows.html", page=paginate(users.listing(q)),
                  q=q, action_form=EmptyForm())


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
            flash(f"User {user.username} created.", "success")
            return redirect_to(url_for("admin.user_list"))
    return render("admin/user_new.html", form=form, status=422 if form.errors else 200)


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
def user_disable(user_id):
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
        return render("admin/_user_row.html", u=user, action_form=EmptyForm(), row_error=error,
                      status=422 if error else 200)
    flash(error or f"User {user.username} {'disabled' if disabled else 'enabled'}.",
          "error" if error else "success")
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
            flash(f"Password of {user.username} reset.", "success")
            return redirect_to(url_for("admin.user_list"))
    return render("admin/user_password.html", user=user, form=form,
                  status=422 if form.errors else 200)


# Resource plans --------------------------------------------------------------

@bp.route("/plans")
def plan_list():
    return render("admin/plans.html", plans=plans.all_plans(), action_form=EmptyForm())


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
            flash(f"Plan {saved.name} saved.", "success")
            return redirect_to(url_for("admin.plan_list"))
    return render("admin/plan_form.html", form=form, plan=plan,
                  status=422 if form.errors else 200)


@bp.route("/plans/<int:plan_id>/delete", methods=["POST"])
def plan_delete(plan_id):
    plan = plans.get(plan_id)
    plans.delete(plan, by=actor())
    if request.htmx:
        return ""
    flash(f"Plan {plan.name} deleted.", "success")
    return redirect_to(url_for("admin.plan_list"))


# Audit -----------------------------------------------------------------------

@bp.route("/audit")
def audit_log():
    q = request.args.get("q", "").strip()
    return render("admin/audit.html", "audit/_rows.html", page=paginate(audit.query(None, q)), q=q)
