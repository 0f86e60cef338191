"""The file browser of a volume: thin routes over services/volumes/files.py.

    GET       .../volumes/<volume>/files?path=a/b&sort=size&order=desc&page=2   a folder (viewer and up)
    GET       .../volumes/<volume>/files/download?path=a/b/c.txt                a file
    GET       .../volumes/<volume>/files/archive?path=a/b                       a folder as .tar.gz
    POST      .../volumes/<volume>/files/upload?path=a/b&name=c.txt[&overwrite=1]
              body: the file's raw bytes (developer and up); 201 {"name", "size"}, 4xx {"field", "message"}
    POST      .../volumes/<volume>/files/folder                                 make a folder
    POST      .../volumes/<volume>/files/rename                                 rename an entry
    GET, POST .../volumes/<volume>/files/delete?path=a/b                        delete, after a confirmation

An upload is one file per request, its bytes as the body, as the image upload does (see
images/upload.py): no multipart parsing, no temporary copy, never whole in memory; the
page's script sends the chosen files one after another with a progress bar. Its
Content-Length must fit in what the volume has left (413 otherwise, before a byte is read),
and HUMMER_VOLUME_UPLOAD_MAX_BYTES bounds any one file. CSRF: the X-CSRFToken header.
"""
from __future__ import annotations

import mimetypes

from flask import current_app, flash, jsonify, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from portal.extensions import csrf, db
from portal.forms import attach
from portal.models import Role
from portal.rawbody import (
    OCTET_STREAM,
    csrf_header_refusal,
    drain_body,
    json_refusal,
    raw_body_refusal,
    upload_body,
)
from portal.services import volumes
from portal.services.errors import Invalid, ServiceError
from portal.services.paging import page_of
from portal.volumes import bp
from portal.volumes.forms import FolderForm, RenameForm, UploadForm
from portal.volumes.routes import project_of
from portal.web import actor, page_number, redirect_to, render

PER_PAGE = 200


def _browse_url(project, volume, path: str, **args) -> str:
    return url_for("volumes.browse", name=project.name, volume=volume.name, path=path or None, **args)


def _browse(project, role, volume, path: str, status: int = 200, folder_form=None, error: str = ""):
    sort = request.args.get("sort", "name")
    reverse = request.args.get("order") == "desc"
    listing = volumes.files.listing(current_user, project, volume, path, sort, reverse)
    page = page_of(listing.entries, page_number(), PER_PAGE)
    return render("volumes/files.html", "volumes/_files.html", status=status, project=project, role=role,
                  volume=volume, listing=listing, page=page, sort=sort, reverse=reverse,
                  may_change=role.at_least(Role.DEVELOPER), folder_form=folder_form or FolderForm(path=listing.path),
                  upload_form=UploadForm(), level=volumes.level(volume), percent=volumes.percent(volume),
                  max_upload=int(current_app.config["VOLUME_UPLOAD_MAX_BYTES"]), error=error,
                  upload_url=url_for("volumes.upload", name=project.name, volume=volume.name))


@bp.route("/<volume>/files")
@login_required
def browse(name, volume):
    project, role = project_of(name)
    return _browse(project, role, volumes.get(project, volume), request.args.get("path", ""))


@bp.route("/<volume>/files/download")
@login_required
def download(name, volume):
    project, _role = project_of(name)
    handle, entry = volumes.files.open_file(current_user, project, volumes.get(project, volume),
                                            request.args.get("path", ""))
    db.session.remove()  # the body may take long: give the connection back now
    response = send_file(handle, mimetype=mimetypes.guess_type(entry.name)[0] or OCTET_STREAM,
                         as_attachment=True, download_name=entry.name, conditional=False, etag=False,
                         max_age=0)
    response.content_length = entry.size
    return response


@bp.route("/<volume>/files/archive")
@login_required
def archive(name, volume):
    project, _role = project_of(name)
    row = volumes.get(project, volume)
    path = request.args.get("path", "")
    chunks = volumes.files.archive(current_user, project, row, path)
    base = path.rstrip("/").rpartition("/")[2] or row.name
    db.session.remove()
    response = current_app.response_class(stream_with_context(chunks), mimetype="application/gzip")
    response.headers.set("Content-Disposition", "attachment", filename=f"{base}.tar.gz")
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.route("/<volume>/files/upload", methods=["POST"])
@login_required
@csrf.exempt
def upload(name, volume):
    """One file as the body (see the module docstring)."""
    refused = csrf_header_refusal()
    if refused:
        return refused
    try:
        project, _role = project_of(name, Role.DEVELOPER)
        row = volumes.get(project, volume)
    except ServiceError as error:
        return json_refusal(error.status, None, error.message)
    refused = raw_body_refusal(
        "file", int(current_app.config["VOLUME_UPLOAD_MAX_BYTES"]),
        no_length=_("The upload has no Content-Length: send the file as one body of known size."),
        too_large=lambda length, limit: _("The file is %(size)s, more than the limit of %(limit)s "
                                          "(HUMMER_VOLUME_UPLOAD_MAX_BYTES).", size=length, limit=limit),
        not_raw=_("Send the file itself as the body (application/octet-stream); uploading from the page "
                  "needs JavaScript."))
    if refused:
        return refused
    length = request.content_length
    try:
        written = volumes.files.upload(actor(), project, row, request.args.get("path", ""),
                                       request.args.get("name", ""), upload_body(length), length,
                                       overwrite=request.args.get("overwrite") == "1")
    except (ClientDisconnected, RequestEntityTooLarge):
        return json_refusal(400, "file", _("The upload stopped before the whole file arrived; nothing was kept."))
    except ServiceError as error:
        drain_body()
        return json_refusal(error.status, error.field if isinstance(error, Invalid) else "file", error.message)
    return jsonify(name=request.args.get("name", ""), size=written), 201


@bp.route("/<volume>/files/folder", methods=["POST"])
@login_required
def folder(name, volume):
    project, role = project_of(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    form = FolderForm()
    path = form.path.data or ""
    if not form.validate_on_submit():
        return _browse(project, role, row, path, status=400, folder_form=form)
    try:
        target = volumes.files.mkdir(actor(), project, row, path, form.name.data)
    except Invalid as error:
        attach(form, error if error.field == "name" else Invalid("name", error.message))
        return _browse(project, role, row, path, status=422, folder_form=form)
    flash(_("Folder %(name)s made.", name=target), "success")
    return redirect_to(_browse_url(project, row, path))


@bp.route("/<volume>/files/rename", methods=["POST"])
@login_required
def rename(name, volume):
    project, role = project_of(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    form = RenameForm()
    path = form.path.data or ""
    parent = path.rpartition("/")[0]
    if not form.validate_on_submit():
        return _browse(project, role, row, parent, status=400, error=_("The form expired; try again."))
    try:
        parent = volumes.files.rename(actor(), project, row, path, form.new.data)
    except Invalid as error:
        return _browse(project, role, row, parent, status=422, error=error.message)
    flash(_("Renamed to %(name)s.", name=form.new.data), "success")
    return redirect_to(_browse_url(project, row, parent))


@bp.route("/<volume>/files/delete", methods=["GET", "POST"])
@login_required
def delete_file(name, volume):
    """GET asks (the shared confirm page), POST deletes; the path in the query string both times."""
    project, _role = project_of(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    path = volumes.files.clean(request.args.get("path", ""))
    if request.method == "POST":
        parent = volumes.files.delete(actor(), project, row, path)
        flash(_("%(name)s deleted.", name=path), "success")
        return redirect_to(_browse_url(project, row, parent))
    entry = volumes.files.stat(current_user, project, row, path) if path else None
    consequence = (_("The folder and everything in it are deleted from the volume, at once and for good.")
                   if entry and entry.kind == "dir" else
                   _("Only the link is deleted, not what it points to.") if entry and entry.kind == "link" else
                   _("The file is deleted from the volume, at once and for good."))
    return render("_confirm.html", question=_("Delete %(name)s from %(volume)s?", name=path, volume=row.name),
                  consequence=consequence, label=_("Delete"),
                  action=url_for("volumes.delete_file", name=project.name, volume=row.name, path=path),
                  cancel=_browse_url(project, row, path.rpartition("/")[0]))
