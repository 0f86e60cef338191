"""Uploading an image archive from the browser: the page, and the POST that streams the
archive's bytes straight into the registry.

    GET  /projects/<name>/images/upload                            the page (developer and up)
    POST /projects/<name>/images/upload?name=web&tag=1.0[&image=]  body: the archive's raw bytes
         201 {"repository", "tag", "digest", "size", "image"}; 4xx/503 {"field", "message"}

The body (rawbody.ExactBody: as long as its Content-Length says, so a client gone half-way is
not taken for a shorter archive) is handed to services/images/uploads.py as it arrives: no
multipart parsing, no temporary file, never whole in memory. HUMMER_UPLOAD_MAX_BYTES bounds this route
alone (every other body stays under MAX_CONTENT_LENGTH); a body without Content-Length is
refused (411), a Content-Length over the limit too (413), both before a byte is read.

CSRF: the X-CSRFToken header, checked here rather than by CSRFProtect's hook, because that
hook reads request.form first, which would apply the global 1 MiB limit before this view
could raise it for its own request.
"""
from __future__ import annotations

from flask import jsonify, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from wtforms import FileField, Form, StringField

from portal.extensions import csrf
from portal.images import bp
from portal.models import Role
from portal.rawbody import ExactBody, csrf_header_refusal, drain_body, json_refusal, raw_body_refusal
from portal.services import authz
from portal.services.errors import Invalid, ServiceError
from portal.services.images import access, uploads
from portal.web import actor, render


class UploadForm(Form):
    """The page's fields (never posted as a form: the script sends the file as the body and
    the rest in the query string); uploads.upload judges them."""

    name = StringField(_l("Image name"), description=_l("lower-case letters and digits, e.g. %(example)s",
                                                        example="web"))
    tag = StringField(_l("Tag"), default="latest")
    image = StringField(_l("Image inside the archive"),
                        description=_l("only for an archive of several images (docker save a b), e.g. "
                                       "%(example)s", example="shop/web:1.0"))
    archive = FileField(_l("Archive"), description=_l("docker save or an OCI image layout, as a tar or a "
                                                      "gzipped tar"))


@bp.route("/upload", methods=["GET"])
@login_required
def upload(name):
    project, role = authz.get_project(current_user, name, Role.DEVELOPER)
    form = UploadForm()
    return render("images/upload.html", project=project, role=role, form=form,
                  push_url=url_for("images.push", name=project.name),
                  index_url=url_for("images.index", name=project.name),
                  max_bytes=uploads.limit(), configured=access.configured(),
                  not_configured=access.NOT_CONFIGURED)


@bp.route("/upload", methods=["POST"])
@login_required
@csrf.exempt
def push(name):
    """The archive in the body, pushed as <project>/<name>:<tag> (see the module docstring)."""
    refused = csrf_header_refusal()
    if refused:
        return refused
    try:
        project, _role = authz.get_project(current_user, name, Role.DEVELOPER)
    except ServiceError as error:
        return json_refusal(error.status, None, error.message)
    refused = raw_body_refusal(
        "archive", uploads.limit(),
        no_length=_("The upload has no Content-Length: send the archive as one body of known size."),
        too_large=lambda length, limit: _("The archive is %(size)s, more than the limit of %(limit)s "
                                          "(HUMMER_UPLOAD_MAX_BYTES).", size=length, limit=limit),
        not_raw=_("Send the archive itself as the body (application/octet-stream); uploading from the page "
                  "needs JavaScript."))
    if refused:
        return refused
    length = request.content_length
    image_name = request.args.get("name", "").strip()
    tag = request.args.get("tag", "").strip()
    if not image_name:
        return json_refusal(422, "name", _("Name the image."))
    if not tag:
        return json_refusal(422, "tag", _("Give the image a tag."))
    try:
        uploaded = uploads.upload(actor(), project, ExactBody(request.stream, length), image_name, tag,
                                  request.args.get("image", "").strip() or None)
    except (ClientDisconnected, RequestEntityTooLarge):
        return json_refusal(400, "archive", _("The upload stopped before the whole archive arrived; nothing "
                                         "was pushed."))
    except ServiceError as error:
        drain_body()
        return json_refusal(error.status, error.field if isinstance(error, Invalid) else None, error.message)
    drain_body()  # the tar's end-of-archive padding, if the reader stopped before it
    return jsonify(repository=uploaded.repository, tag=uploaded.tag, digest=uploaded.digest,
                   size=uploaded.size, image=uploaded.image), 201
