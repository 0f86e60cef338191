"""Builds: thin routes over services/builds.

    GET  /projects/<name>/builds                    the history (viewer and up)
    GET  /projects/<name>/builds/new                the form (developer and up)
    POST /projects/<name>/builds/new                queue a build: multipart, the context as a file
    GET  /projects/<name>/builds/<id>               its page; htmx polls its status fragment
    GET  /projects/<name>/builds/<id>/log           the whole log as text
    GET  /projects/<name>/builds/<id>/log/stream    the log live (Server-Sent Events)
    POST /projects/<name>/builds/<id>/cancel        cancel (developer and up)

The POST of the form carries the context, so it takes up to HUMMER_BUILD_CONTEXT_MAX_BYTES
(web.accepts_files applies that limit before the body is read); it is exempt from
CSRFProtect's early hook, which would read the body under the global limit first, and the
form checks the token itself (FlaskForm).
"""
from __future__ import annotations

import html

from flask import Response, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from portal.builds import bp
from portal.extensions import csrf, db
from portal.models import OPEN_BUILD_STATUSES, Role
from portal.services import authz, builds, streams
from portal.services.errors import Invalid
from portal.services.images import access
from portal.web import accepts_files, actor, paginate, redirect_to, render


class BuildForm(FlaskForm):
    source = RadioField(_l("Source"), choices=[SelectChoice("upload", _l("Upload a build context")),
                                               SelectChoice("git", _l("A Git repository"))], default="upload")
    context = FileField(_l("Build context"), description=_l("a tar, tar.gz or zip holding the Dockerfile"))
    git_url = StringField(_l("Git URL"), description=_l("e.g. %(example)s",
                                                        example="https://git.example.com/shop/web.git"))
    git_ref = StringField(_l("Branch, tag or commit"), default="main")
    git_path = StringField(_l("Sub-directory"),
                           description=_l("the build context inside the repository; empty for its root"))
    name = StringField(_l("Image name"),
                       description=_l("lower-case letters and digits, e.g. %(example)s", example="web"))
    tag = StringField(_l("Tag"), default="latest")
    dockerfile = StringField(_l("Dockerfile"), default="Dockerfile",
                             description=_l("its path inside the context"))
    build_args = TextAreaField(_l("Build arguments"), description=_l("NAME=value, one per line"))


def _project(name: str, role: Role = Role.VIEWER):
    return authz.get_project(current_user, name, role)


@bp.route("")
@login_required
def index(name):
    project, role = _project(name)
    page = paginate(builds.history(project))
    return render("builds/index.html", "builds/_rows.html", project=project, role=role, page=page,
                  may_build=role.at_least(Role.DEVELOPER))


@bp.route("/new", methods=["GET"])
@login_required
def new(name):
    project, role = _project(name, Role.DEVELOPER)
    return _form_page(project, role, BuildForm())


def _form_page(project, role, form, status: int = 200):
    return render("builds/new.html", "builds/_form.html", status=status, project=project, role=role, form=form,
                  configured=access.configured(), not_configured=access.NOT_CONFIGURED,
                  max_bytes=int(current_app.config["BUILD_CONTEXT_MAX_BYTES"]))


@bp.route("/new", methods=["POST"])
@login_required
@csrf.exempt
@accepts_files(limit="BUILD_CONTEXT_MAX_BYTES")
def create(name):
    project, role = _project(name, Role.DEVELOPER)
    form = BuildForm()
    if not form.validate_on_submit():
        return _form_page(project, role, form, status=400)
    target = builds.Target(name=form.name.data or "", tag=form.tag.data or "", dockerfile=form.dockerfile.data or "",
                           build_args=form.build_args.data or "")
    try:
        if form.source.data == "git":
            build = builds.submit_git(actor(), project, form.git_url.data, form.git_ref.data, form.git_path.data,
                                      target)
        else:
            upload = request.files.get("context")
            if upload is None or not upload.filename:
                raise Invalid("context", _("Choose the build context to upload."))
            build = builds.submit_upload(actor(), project, upload.stream, upload.filename, target)
    except Invalid as error:
        field = getattr(form, error.field, None) if error.field else None
        if field is not None:
            field.errors = [error.message]
        else:
            form.form_errors.append(error.message)
        return _form_page(project, role, form, status=422)
    image = build.repository + ":" + build.tag
    flash(_("Build %(id)s of %(image)s queued.", id=build.id, image=image), "success")
    return redirect_to(url_for("builds.detail", name=project.name, build_id=build.id), "HX-Redirect")


@bp.route("/<int:build_id>")
@login_required
def detail(name, build_id):
    project, role = _project(name)
    build = builds.get(project, build_id)
    going = build.status in OPEN_BUILD_STATUSES
    image = access.image_name(build.repository, build.tag) if access.configured() else ""
    may_deploy = build.status == "pushed" and bool(image) and role.at_least(Role.DEVELOPER)
    return render("builds/build.html", "builds/_status.html", project=project, role=role, build=build,
                  going=going, log=builds.text(build.id) if not going else "",
                  may_cancel=going and role.at_least(Role.DEVELOPER), image=image, may_deploy=may_deploy,
                  users=builds.apps_of(project, build) if may_deploy else [])


@bp.route("/<int:build_id>/update-app", methods=["POST"])
@login_required
def update_app(name, build_id):
    """A rolling update of one of the project's apps to the build's image (services.apps)."""
    project, _role = _project(name, Role.DEVELOPER)
    app_name = (request.form.get("app") or "").strip()
    builds.update_app(actor(), project, build_id, app_name)
    flash(_("Rolling out build %(id)s to %(app)s.", id=build_id, app=app_name), "success")
    return redirect_to(url_for("apps.detail", name=project.name, app=app_name))


@bp.route("/<int:build_id>/log")
@login_required
def log_text(name, build_id):
    project, _role = _project(name)
    build = builds.get(project, build_id)
    return Response(builds.text(build.id), mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{project.name}-build-{build.id}.log"'})


@bp.route("/<int:build_id>/log/stream")
@login_required
def log_stream(name, build_id):
    """Server-Sent Events: `line` events (HTML) as the log grows, then one `end` event when
    the build has ended and every line was sent. Each stream holds a slot (services.streams)."""
    project, _role = _project(name)
    build = builds.get(project, build_id)
    try:
        slot = streams.open_slot(current_user)
    except streams.StreamLimit as error:
        message = f'<small class="error" role="alert">{html.escape(error.message)}</small>'
        return _sse(iter([f"retry: 60000\nevent: end\ndata: {message}\n\n"]))
    source = builds.follow(current_app._get_current_object(), build.id,
                           current_app.config.get("LOG_FOLLOW_SECONDS", 600))
    db.session.remove()

    def events():
        yield "retry: 3000\n\n"
        for kind, value in source:
            if kind == "chunk":
                lines = "".join(f'<div class="log-line">{html.escape(line)}</div>' for line in value.splitlines())
                yield f"event: line\ndata: {lines}\n\n"
            elif kind == "end":
                yield f"event: end\ndata: {html.escape(value)}\n\n"
            else:
                yield ": keep-alive\n\n"

    response = _sse(events())
    response.call_on_close(slot.release)
    return response


def _sse(body) -> Response:
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/<int:build_id>/cancel", methods=["POST"])
@login_required
def cancel(name, build_id):
    project, _role = _project(name, Role.DEVELOPER)
    build = builds.cancel(actor(), project, build_id)
    flash(_("Build %(id)s cancelled.", id=build.id) if build.status == "cancelled"
          else _("Stopping build %(id)s…", id=build.id), "success")
    return redirect_to(url_for("builds.detail", name=project.name, build_id=build.id))
