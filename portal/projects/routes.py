"""Project pages: list, create, detail, settings, delete, members, audit."""
from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.extensions import db
from portal.forms import attach
from portal.labels import label
from portal.models import Role
from portal.projects import bp
from portal.projects.forms import DeleteForm, MemberForm, ProjectForm, QuotaForm, RenameForm, RoleForm
from portal.services import apps, audit, authz, kube_access, projects, users
from portal.services.errors import Invalid, ServiceError
from portal.web import actor, paginate, redirect_to, render


def _project(name: str, need: Role = Role.VIEWER):
    return authz.get_project(current_user, name, need)


@bp.before_request
@login_required
def require_login():
    """Every project URL needs a logged-in user."""


@bp.route("")
def index():
    q = request.args.get("q", "").strip()
    page = paginate(projects.visible_to(current_user, q))
    return render("projects/index.html", "projects/_rows.html", page=page, q=q)


@bp.route("/new", methods=["GET", "POST"])
def create():
    form = ProjectForm()
    if form.validate_on_submit():
        try:
            project = projects.create(form.name.data, form.display_name.data or "",
                                      form.description.data or "", by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Project %(name)s created.", name=project.name), "success")
            return redirect_to(url_for("projects.detail", name=project.name))
    status = 422 if form.errors else 200
    return render("projects/new.html", "projects/_form.html", form=form, status=status)


@bp.route("/<name>")
def detail(name):
    project, role = _project(name)
    recent = db.session.scalars(audit.query(project).limit(5))
    state = kube_access.state(may_set_up=current_user.is_admin)
    app_page = apps.listing(project, per_page=5) if state.ok else None
    return render("projects/detail.html", project=project, role=role, state=state, app_page=app_page,
                  may_deploy=role.at_least(Role.DEVELOPER),
                  members=projects.members(project), recent=list(recent))


@bp.route("/<name>/settings", methods=["GET", "POST"])
def settings(name):
    project, role = _project(name, Role.OWNER)
    form = RenameForm(obj=project)
    quota_form = QuotaForm(formdata=None, obj=project)
    if form.validate_on_submit():
        try:
            projects.rename(project, form.display_name.data, form.description.data or "", by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Project settings saved."), "success")
            return redirect_to(url_for("projects.detail", name=project.name))
    return render("projects/settings.html", project=project, role=role, form=form,
                  quota_form=quota_form, status=422 if form.errors else 200)


@bp.route("/<name>/quota", methods=["POST"])
def quota(name):
    project, role = _project(name, Role.OWNER)
    quota_form = QuotaForm()
    if quota_form.validate_on_submit():
        try:
            projects.set_quota(project, quota_form.quota_cpu.data or "", quota_form.quota_memory.data or "",
                               quota_form.quota_pods.data or "", by=actor(),
                               storage=quota_form.quota_storage.data or "", claims=quota_form.quota_claims.data or "")
        except Invalid as error:
            attach(quota_form, error)
        else:
            flash(_("Quota saved."), "success")
            return redirect_to(url_for("projects.settings", name=project.name))
    return render("projects/settings.html", project=project, role=role, form=RenameForm(obj=project),
                  quota_form=quota_form, status=422 if quota_form.errors or quota_form.form_errors else 400)


@bp.route("/<name>/delete", methods=["GET", "POST"])
def delete(name):
    project, role = _project(name, Role.OWNER)
    form = DeleteForm()
    try:
        going, going_error = projects.contents(project), ""
    except ServiceError as error:
        going, going_error = [], error.message
    if form.validate_on_submit():
        try:
            projects.delete(project, form.confirm.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Project %(name)s deleted.", name=name), "success")
            return redirect_to(url_for("projects.index"))
    return render("projects/delete.html", project=project, role=role, form=form, going=going,
                  going_error=going_error, status=422 if form.errors or form.form_errors else 200)


# Members ---------------------------------------------------------------------

def _members_page(project, role, form=None, status=200):
    return render("projects/members.html", "projects/_members.html", project=project, role=role,
                  members=projects.members(project), form=form or MemberForm(),
                  usernames=[],   # filled as the owner types (member_suggestions)
                  role_form=RoleForm(), consequence=remove_consequence,
                  may_manage=role.at_least(Role.OWNER), status=status)


@bp.route("/<name>/members")
def members(name):
    project, role = _project(name)
    return _members_page(project, role)


@bp.route("/<name>/members/suggest")
def member_suggestions(name):
    """The username field's <datalist>: a few enabled accounts matching what the owner typed."""
    project, role = _project(name, Role.OWNER)
    return render("projects/_usernames.html",
                  usernames=users.suggest(request.args.get("username", ""), not_in=project))


@bp.route("/<name>/members", methods=["POST"])
def add_member(name):
    project, role = _project(name, Role.OWNER)
    form = MemberForm()
    if form.validate_on_submit():
        try:
            member = projects.add_member(project, form.username.data, form.role.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("%(name)s added as %(role)s.", name=member.user.username, role=label(member.role)), "success")
            if not request.htmx:
                return redirect_to(url_for("projects.members", name=name))
            form = MemberForm(formdata=None)
    return _members_page(project, role, form, status=422 if form.errors else 200)


@bp.route("/<name>/members/<int:member_id>/role", methods=["POST"])
def change_role(name, member_id):
    project, role = _project(name, Role.OWNER)
    member = projects.get_member(project, member_id)
    form = RoleForm()
    error = None
    if form.validate_on_submit():
        try:
            projects.change_role(project, member, form.role.data, by=actor())
        except Invalid as exc:
            error = exc.message
    else:
        error = "; ".join(str(e) for e in sum(form.errors.values(), []))
    if error:
        db.session.refresh(member)
    if request.htmx:
        return render("projects/_member_row.html", project=project, role=role, m=member,
                      role_form=RoleForm(), row_error=error,
                      saved_message="" if error else _("Saved: %(name)s is now %(role)s.",
                                                        name=member.user.username, role=label(member.role)),
                      consequence=remove_consequence, may_manage=True, status=422 if error else 200)
    flash(error or _("%(name)s is now %(role)s.", name=member.user.username, role=label(member.role)),
          "error" if error else "success")
    return redirect_to(url_for("projects.members", name=name))


def remove_consequence(project, member) -> str:
    return _("%(name)s loses access to %(project)s at once: its pages answer "
             "“not found” for them. Add them again to give it back.",
             name=member.user.username, project=project.name)


@bp.route("/<name>/members/<int:member_id>/remove", methods=["GET", "POST"])
def remove_member(name, member_id):
    project, role = _project(name, Role.OWNER)
    member = projects.get_member(project, member_id)
    if request.method == "GET":  # the confirm page, for browsers without JavaScript
        return render("_confirm.html", question=_("Remove %(name)s from %(project)s?", name=member.user.username,
                                                 project=project.name),
                      consequence=remove_consequence(project, member),
                      label=_("Remove %(name)s", name=member.user.username),
                      action=url_for("projects.remove_member", name=name, member_id=member.id),
                      cancel=url_for("projects.members", name=name))
    error = None  # a POST: CSRFProtect checked its token before the view ran
    username = member.user.username
    try:
        projects.remove_member(project, member, by=actor())
    except Invalid as exc:
        error = exc.message
    else:
        if request.htmx:
            return ""  # the row goes away
        flash(_("%(name)s removed.", name=username), "success")
    if error and request.htmx:
        return render("projects/_member_row.html", project=project, role=role, m=member,
                      role_form=RoleForm(), row_error=error,
                      consequence=remove_consequence, may_manage=True, status=422)
    if error:
        flash(error, "error")
    return redirect_to(url_for("projects.members", name=name))


@bp.route("/<name>/audit")
def audit_log(name):
    project, role = _project(name)
    q = request.args.get("q", "").strip()
    page = paginate(audit.query(project, q))
    return render("projects/audit.html", "audit/_rows.html", project=project, role=role,
                  page=page, q=q)
