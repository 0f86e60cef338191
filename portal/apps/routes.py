"""App pages: list, deploy, detail with live status, actions, edit, delete, logs."""
from __future__ import annotations

import html

from flask import Response, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.apps import bp
from portal.apps.forms import (
    EDIT_HIDDEN,
    AppForm,
    ConfirmForm,
    ImageForm,
    RollbackForm,
    ScaleForm,
    attach_errors,
    form_from_spec,
)
from portal.models import Role
from portal.services import alerts, apps, authz, kube_access, plans, projects, streams, volumes
from portal.services.errors import Conflict, Invalid, Unavailable
from portal.services.images import picker
from portal.web import actor, page_number, redirect_to, render, wants_fragment


@bp.before_request
@login_required
def require_login():
    """Every app URL needs a logged-in user."""


def _project(name: str, need: Role = Role.VIEWER):
    return authz.get_project(current_user, name, need)


def _fail(form, error: Invalid, hidden=()) -> None:
    """The service's messages beside their fields; those of fields not on the page (or of
    none) in the form's general error area."""
    if isinstance(error, apps.SpecInvalid):
        attach_errors(form, error.errors, hidden)
        if error.summary or not error.errors:
            form.form_errors.append(error.message)
    else:
        attach_errors(form, {error.field or "": error.message}, hidden)


# List -----------------------------------------------------------------------

@bp.route("")
def index(name):
    project, role = _project(name)
    q, wanted = request.args.get("q", "").strip(), request.args.get("status", "").strip()
    state = kube_access.state(may_set_up=current_user.is_admin)
    page = None
    if state.ok:
        page = apps.listing(project, q, wanted, page_number(), current_app.config["PAGE_SIZE"])
    return render("apps/index.html", "apps/_rows.html", project=project, role=role, page=page,
                  q=q, wanted=wanted, state=state, may_deploy=role.at_least(Role.DEVELOPER))


# Deploy -----------------------------------------------------------------------

def _deploy_form() -> AppForm:
    form = AppForm()
    default = projects.default_plan()
    form.set_plans(plans.all_plans(), default.name if default else "")
    return form


def _rows(form, project, op: str) -> bool:
    """An "add a row" button (the form is shown again with one more row); the volume rows'
    choices in any case. True when the button was pressed."""
    lists = {"add-port": form.ports, "add-env": form.env, "add-volume": form.volumes}
    if op in lists:
        lists[op].append_entry()
    form.set_volumes(volumes.names(project))
    return op in lists


@bp.route("/new", methods=["GET", "POST"])
def new(name):
    project, role = _project(name, Role.DEVELOPER)
    form = _deploy_form()
    yaml_text, status = None, 200
    op = request.form.get("op", "deploy")
    if request.method == "GET" and request.args.get("image"):
        # ?image=<full name> (from an image's page): prefilled, judged on submit like a typed one
        form.image.data, form.tag.data = request.args.get("image", "").strip()[:1024], ""
    if _rows(form, project, op if request.method == "POST" else ""):
        pass
    elif form.validate_on_submit():
        try:
            if op == "yaml":
                _spec, yaml_text = apps.preview(project, form.data, by=actor())
            else:
                spec = apps.deploy(project, form.data, by=actor())
                flash(_("App %(name)s deployed: %(image)s.", name=spec.name, image=spec.image_ref), "success")
                return redirect_to(url_for("apps.detail", name=name, app=spec.name))
        except Invalid as error:
            _fail(form, error)
            status = 422
    elif form.errors:
        status = 400
        form.form_errors.append(_("The form could not be read (its security token may have "
                                  "expired); reload the page and try again."))
    fragment = wants_fragment()
    return render("apps/new.html", "apps/_form.html", project=project, role=role, form=form,
                  yaml_text=yaml_text, status=status, editing=False,
                  state=None if fragment else kube_access.state(),
                  image_suggestions=() if fragment else picker.suggestions(project))


# Detail -------------------------------------------------------------------------

def _detail_page(project, role, app_name, status=200, **forms):
    d = apps.detail(project, app_name)
    forms.setdefault("scale_form", ScaleForm(formdata=None, data={"replicas": d.app.desired}))
    image_form = forms.setdefault("image_form", ImageForm(formdata=None))
    if not image_form.image.data:
        from portal.domain.apps import split_image
        image_form.image.data, image_form.tag.data = split_image(d.app.image)
    image_form.token.data = image_form.token.data or d.app.template_hash
    mounted = [(v, volumes.level(v), volumes.percent(v)) for v in volumes.volumes_of(project)
               if v.name in d.app.claims] if d.app.claims and not wants_fragment() else []
    firing = alerts.firing_of_app(project, app_name) if not wants_fragment() else []
    return render("apps/detail.html", "apps/_status.html", project=project, role=role, d=d,
                  app_name=app_name, can_change=role.at_least(Role.DEVELOPER), status=status, mounted=mounted,
                  firing=firing, **forms)


@bp.route("/<app>")
def detail(name, app):
    project, role = _project(name)
    try:
        return _detail_page(project, role, app)
    except Unavailable as error:
        if not wants_fragment():
            raise
        # The page's status section polls here: it keeps its place (and its polling) and
        # says why there is no news; the error fragment in its place would end the polling.
        return render("apps/_status.html", "apps/_status.html", project=project, app_name=app,
                      unavailable=error.message, status=503)


@bp.route("/<app>/events")
def events(name, app):
    project, role = _project(name)
    return render("apps/_events.html", "apps/_events.html", project=project,
                  events=apps.events(project, app))


def _back(name, app, message):
    flash(message, "success")
    return redirect_to(url_for("apps.detail", name=name, app=app))


@bp.route("/<app>/scale", methods=["POST"])
def scale(name, app):
    project, role = _project(name, Role.DEVELOPER)
    form = ScaleForm()
    if form.validate_on_submit():
        try:
            view = apps.scale(project, app, form.replicas.data, by=actor())
        except Invalid as error:
            _fail(form, error)
            return _detail_page(project, role, app, status=422, scale_form=form)
        return _back(name, app, _("%(name)s scaled to %(num)d.", name=app, num=view.desired))
    return _detail_page(project, role, app, status=400, scale_form=form)


@bp.route("/<app>/image", methods=["POST"])
def image(name, app):
    project, role = _project(name, Role.DEVELOPER)
    form = ImageForm()
    if form.validate_on_submit():
        try:
            apps.set_image(project, app, form.image.data or "", form.tag.data or "",
                           form.token.data, by=actor())
        except Conflict as error:
            form.form_errors.append(error.message)
            form.token.data = ""
            return _detail_page(project, role, app, status=409, image_form=form)
        except Invalid as error:
            _fail(form, error)
            return _detail_page(project, role, app, status=422, image_form=form)
        image = ":".join((form.image.data, form.tag.data or "latest"))
        return _back(name, app, _("Rolling out %(image)s.", image=image))
    return _detail_page(project, role, app, status=400, image_form=form)


@bp.route("/<app>/rollback", methods=["POST"])
def rollback(name, app):
    project, role = _project(name, Role.DEVELOPER)
    form = RollbackForm()
    if form.validate_on_submit():
        try:
            number = apps.rollback(project, app, form.revision.data, form.token.data, by=actor())
        except (Invalid, Conflict) as error:
            flash(error.message, "error")
            return _detail_page(project, role, app, status=error.status)
        return _back(name, app, _("Rolling back %(name)s to revision %(num)d.", name=app, num=number))
    return _detail_page(project, role, app, status=400)


def _simple_action(name, app, func, message):
    project, role = _project(name, Role.DEVELOPER)
    try:  # no form to read: CSRFProtect checked the token before the view ran
        func(project, app, by=actor())
    except Invalid as error:
        flash(error.message, "error")
        return _detail_page(project, role, app, status=422)
    return _back(name, app, message)


@bp.route("/<app>/restart", methods=["POST"])
def restart(name, app):
    return _simple_action(name, app, apps.restart, _("Restarting %(name)s: new pods replace the old ones.", name=app))


@bp.route("/<app>/stop", methods=["POST"])
def stop(name, app):
    return _simple_action(name, app, apps.stop, _("%(name)s stopped (scaled to 0).", name=app))


@bp.route("/<app>/start", methods=["POST"])
def start(name, app):
    return _simple_action(name, app, apps.start, _("%(name)s started again.", name=app))


# Edit and delete ---------------------------------------------------------------

@bp.route("/<app>/edit", methods=["GET", "POST"])
def edit(name, app):
    project, role = _project(name, Role.DEVELOPER)
    apps.get(project, app)
    status = 200
    if request.method == "GET":
        spec, token = apps.current_spec(project, app)
        form = form_from_spec(spec, token)
        form.set_plans(plans.all_plans())
        _rows(form, project, "")
    else:
        form = _deploy_form()
        op = request.form.get("op", "save")
        if _rows(form, project, op):
            pass
        elif form.validate_on_submit():
            try:
                _spec, note = apps.edit(project, app, form.data, form.token.data, by=actor())
            except Conflict as error:
                form.form_errors.append(error.message)
                status = 409
            except Invalid as error:
                _fail(form, error, EDIT_HIDDEN)
                status = 422
            else:
                return _back(name, app, _("%(name)s updated. %(note)s", name=app, note=note) if note
                             else _("%(name)s updated.", name=app))
        else:
            status = 400
            form.form_errors.append(_("The form could not be read (its security token may have "
                                      "expired); reload the page and try again."))
    form.name.data = app
    return render("apps/edit.html", "apps/_form.html", project=project, role=role, form=form,
                  app_name=app, yaml_text=None, status=status, editing=True)


@bp.route("/<app>/delete", methods=["GET", "POST"])
def delete(name, app):
    project, role = _project(name, Role.DEVELOPER)
    d = apps.detail(project, app)
    form = ConfirmForm()
    status = 200
    if form.validate_on_submit():
        try:
            apps.delete(project, app, form.confirm.data or "", by=actor())
        except Invalid as error:
            attach_errors(form, {error.field or "": error.message})
            status = 422
        else:
            flash(_("App %(name)s deleted, with its Service and autoscaler.", name=app), "success")
            return redirect_to(url_for("apps.index", name=name))
    elif request.method == "POST":
        status = 400
    return render("apps/delete.html", project=project, role=role, d=d, form=form, status=status)


# Logs ---------------------------------------------------------------------------

def _log_args():
    pod = request.args.get("pod", "").strip() or None
    try:
        tail = min(max(int(request.args.get("tail", 200)), 1), 10000)
    except ValueError:
        tail = 200
    return pod, tail


@bp.route("/<app>/logs")
def logs(name, app):
    project, role = _project(name)
    pod, tail = _log_args()
    d = apps.detail(project, app)
    lines = apps.logs(project, app, pod, tail)
    return render("apps/logs.html", "apps/_log_lines.html", project=project, role=role, d=d,
                  lines=lines, pod=pod, tail=tail, merged=pod is None,
                  follow=bool(request.args.get("follow")))


@bp.route("/<app>/logs/download")
def logs_download(name, app):
    project, role = _project(name)
    pod, tail = _log_args()
    lines = apps.logs(project, app, pod, max(tail, 5000) if "tail" not in request.args else tail)
    body = "".join(f"{ts} [{p}] {text}\n" for ts, p, text in lines)
    filename = f"{project.name}-{pod or app}.log"
    return Response(body, mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


def _stream_refused(error: streams.StreamLimit):
    """No stream slot free. An EventSource cannot read a 429's body, so it gets the reason
    as a `limit` event (the page swaps it into the log pane and closes the stream on it);
    any other client gets the 429 with the reason."""
    if "text/event-stream" in request.headers.get("Accept", ""):
        message = f'<small class="error" role="alert">{html.escape(error.message)}</small>'
        response = Response(f"retry: 60000\nevent: limit\ndata: {message}\n\n", mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        return response
    return Response(error.message + "\n", status=429, mimetype="text/plain",
                    headers={"Retry-After": str(error.retry_after)})


@bp.route("/<app>/logs/stream")
def logs_stream(name, app):
    """Server-Sent Events: one `line` event per log line (an HTML <div>), for the htmx
    SSE extension. Needs a threaded or async server: gunicorn --threads (./hummer run).
    Each stream holds a slot (services.streams) from here until its response is closed."""
    project, role = _project(name)
    pod, _tail = _log_args()
    try:
        slot = streams.open_slot(current_user)
    except streams.StreamLimit as error:
        return _stream_refused(error)
    try:
        source = apps.follow(project, app, pod, max_seconds=current_app.config.get("LOG_FOLLOW_SECONDS", 600))
    except BaseException:
        slot.release()
        raise

    def events():
        yield "retry: 3000\n\n"
        try:
            for pod_name, line in source:
                if not pod_name:
                    yield ": keep-alive\n\n"
                    continue
                div = (f'<div class="log-line"><span class="pod">{html.escape(pod_name)}</span> '
                       f"{html.escape(line)}</div>")
                yield f"event: line\ndata: {div}\n\n"
        finally:
            source.close()

    response = Response(events(), mimetype="text/event-stream")
    # The server closes the response when the stream ends or its client went away.
    response.call_on_close(slot.release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
