"""The cluster bootstrap wizard (admins only): settings, nodes, preflight, plan, apply, runs."""
from flask import abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.cluster import bp
from portal.cluster.forms import RolesForm, SettingsForm, SSHHostForm
from portal.extensions import db
from portal.forms import attach
from portal.services import provisioning
from portal.services.errors import Invalid, Unavailable
from portal.services.provisioning import wizard
from portal.web import actor, redirect_to, render


@bp.before_request
@login_required
def require_admin():
    if not current_user.is_admin:
        abort(403, _("Only an administrator may set up the cluster."))


@bp.context_processor
def wizard_context():
    """Every wizard page: the steps and where the setup stands, and whether Salt is configured."""
    steps = wizard.steps()
    return {"wizard_steps": steps, "wizard_current": wizard.current(steps),
            "salt_missing": "" if provisioning.salt_configured() else provisioning.SALT_NOT_CONFIGURED}


def _salt_state():
    """Minions as Salt sees them, or the reason Salt cannot be asked."""
    try:
        return provisioning.minions(), ""
    except Unavailable as error:
        return None, error.message


def _index_page(error: str = "", status: int = 200):
    settings = provisioning.cluster_settings()
    db.session.commit()
    return render("cluster/index.html", settings=settings, nodes=provisioning.nodes(),
                  kubeconfig_override=bool(current_app.config.get("KUBECONFIG")),
                  problems=provisioning.role_problems(), runs=provisioning.runs(10),
                  error=error, status=status)


@bp.route("")
def index():
    return _index_page()


@bp.route("/register", methods=["POST"])
def register():
    try:
        summary = provisioning.register(by=actor())
    except (Invalid, Unavailable) as error:
        db.session.rollback()
        return _index_page(error.message, error.status)
    flash(_("Cluster registered for app management: %(summary)s.", summary=summary), "success")
    return redirect_to(url_for("cluster.index"))


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    row = provisioning.cluster_settings()
    form = SettingsForm(obj=row)
    if form.validate_on_submit():
        try:
            provisioning.save_settings(form.data, by=actor())
        except Invalid as error:
            attach(form, error)
        else:
            flash(_("Cluster settings saved."), "success")
            return redirect_to(url_for("cluster.nodes"))
    return render("cluster/settings.html", form=form, status=422 if form.errors else 200)


def _nodes_page(error: str = "", status: int = 200, ssh_form: SSHHostForm | None = None):
    salt, salt_error = _salt_state()
    if salt_error and ssh_form is None and provisioning.salt_configured():
        status = 503  # configured but not answering; not configured: the page says how, with a 200
    return render("cluster/nodes.html", "cluster/_nodes.html", salt=salt, salt_error=salt_error,
                  nodes={n.minion_id: n for n in provisioning.nodes()},
                  problems=provisioning.role_problems(), roles=provisioning.ROLES,
                  ssh_form=ssh_form or SSHHostForm(formdata=None), error=error, status=status)


@bp.route("/nodes")
def nodes():
    return _nodes_page()


@bp.route("/nodes/answering")
def answering():
    """Which minions answer now: the nodes page asks after it is shown (a minion that is
    down costs Salt's timeout), and the answer fills each row's status (out of band)."""
    try:
        found, reason = provisioning.answering(), ""
    except Unavailable as error:
        found, reason = {}, error.message
    return render("cluster/_answering.html", "cluster/_answering.html", answering=found, reason=reason)


@bp.route("/hosts", methods=["POST"])
def add_host():
    """Add a host over SSH: salt-ssh installs salt-minion there; the run page follows it."""
    form = SSHHostForm()
    status = 422
    if form.validate_on_submit():
        try:
            run = provisioning.add_host(form.data, by=actor())
        except Invalid as error:
            attach(form, error)
        except Unavailable as error:
            form.form_errors.append(error.message)
            status = error.status
        else:
            return redirect_to(url_for("cluster.run", run_pk=run.id))
    form.private_key.data = ""  # a pasted key is never sent back
    return _nodes_page(status=status, ssh_form=form)


@bp.route("/keys/<minion_id>/<any(accept, reject):action>", methods=["POST"])
def key(minion_id, action):
    try:
        (provisioning.accept_key if action == "accept" else provisioning.reject_key)(minion_id, by=actor())
    except (Invalid, Unavailable) as error:
        db.session.rollback()
        return _nodes_page(error.message, error.status)
    flash(_("Key of %(minion)s accepted.", minion=minion_id) if action == "accept"
          else _("Key of %(minion)s rejected.", minion=minion_id), "success")
    return redirect_to(url_for("cluster.nodes"))


@bp.route("/nodes/<minion_id>/roles", methods=["POST"])
def roles(minion_id):
    form = RolesForm()
    try:
        row = provisioning.set_roles(minion_id, form.roles.data or [], form.address.data or "", by=actor())
    except (Invalid, Unavailable) as error:
        db.session.rollback()
        return _nodes_page(error.message, error.status)
    flash(_("Roles of %(minion)s saved.", minion=minion_id) if row is not None
          else _("%(minion)s removed from the plan.", minion=minion_id), "success")
    return redirect_to(url_for("cluster.nodes"))


@bp.route("/preflight", methods=["GET", "POST"])
def preflight():
    results, error = None, ""
    if request.method == "POST":
        try:
            results = provisioning.run_preflight(by=actor())
        except (Invalid, Unavailable) as exc:
            error = exc.message
    return render("cluster/preflight.html", "cluster/_preflight.html", results=results, error=error,
                  status=200 if not error else 422)


@bp.route("/runs", methods=["POST"])
def start_run():
    kind = request.form.get("kind", "")
    try:
        run = provisioning.start_run(kind, by=actor(), target=request.form.get("target", ""))
    except (Invalid, Unavailable) as error:
        return _index_page(error.message, error.status)
    return redirect_to(url_for("cluster.run", run_pk=run.id))


@bp.route("/runs/<int:run_pk>")
def run(run_pk):
    row = provisioning.get_run(run_pk)
    return render("cluster/run.html", "cluster/_progress.html", run=row,
                  progress=provisioning.progress(row))


@bp.route("/runs/<int:run_pk>/retry", methods=["POST"])
def retry(run_pk):
    try:
        new = provisioning.retry(provisioning.get_run(run_pk), by=actor())
    except (Invalid, Unavailable) as error:
        return _index_page(error.message, error.status)
    return redirect_to(url_for("cluster.run", run_pk=new.id))
