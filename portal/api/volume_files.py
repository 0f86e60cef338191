"""A volume's files: list a folder, download a file, upload one, delete a file or folder,
onto services/volumes/files.py as the file browser (the same path checks: nothing outside
the volume, no '..', no absolute paths, links never followed; the same capacity limit; the
same audit).

    GET    .../volumes/{volume}/files?path=a/b           a folder, paginated (200 a page at most)
    GET    .../volumes/{volume}/files/content?path=a/b/c  a file's bytes, streamed
    PUT    .../volumes/{volume}/files/content?path=a/b/c  the body (application/octet-stream) as the file
    DELETE .../volumes/{volume}/files?path=a/b            a file, a link, or a folder with all it holds

An upload is the file's raw bytes as the body, as the page's script sends it (never whole in
memory): its Content-Length must fit in what the volume has left (413 before a byte is read)
and under HUMMER_VOLUME_UPLOAD_MAX_BYTES.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, request
from flask_babel import gettext as _
from spectree import Response
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wrappers import Response as StreamedResponse
from werkzeug.wsgi import wrap_file

from portal.api import schemas
from portal.api import schemas_volumes as vs
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.api.problems import problem, title
from portal.api.volumes import CHANGE_ERRORS, ERRORS, TAG
from portal.extensions import db
from portal.models import Role
from portal.rawbody import OCTET_STREAM, drain_body, raw_body_refusal, upload_body
from portal.services import volumes
from portal.services.errors import Invalid, ServiceError
from portal.services.paging import page_of

CONTENT = "/projects/<name>/volumes/<volume>/files/content"
RAW_ERRORS = {f"HTTP_{status}": schemas.Problem for status in (400, 411, 413, 415)}


def document_raw_bodies(paths: dict, prefix: str) -> None:
    """The OpenAPI document's word on the raw bodies SpecTree cannot describe: the download's
    answer and the upload's request are application/octet-stream."""
    content = paths[prefix + CONTENT.replace("<", "{").replace(">", "}")]
    binary = {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}
    content["get"]["responses"]["200"] = {
        "description": "The file's bytes, with Content-Length and Content-Disposition: attachment.",
        "content": binary}
    content["put"]["requestBody"] = {"required": True, "description": "The file's bytes, with a Content-Length.",
                                     "content": binary}


def _mtime(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return ""


def _entry(folder: str, entry) -> vs.FileEntry:
    return vs.FileEntry(name=entry.name, path=f"{folder}/{entry.name}" if folder else entry.name, kind=entry.kind,
                        size=entry.size, mtime=_mtime(entry.mtime), target=entry.target)


@bp.get("/projects/<name>/volumes/<volume>/files")
@spec.validate(query=vs.FilesQuery, resp=Response(HTTP_200=vs.FileList, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="listVolumeFiles")
def volume_files(name: str, volume: str, query: vs.FilesQuery):
    """A folder of the volume (`path`, '' for its top), folders first when sorted by name."""
    project, _role = project_for(name)
    listing = volumes.files.listing(actor(), project, volumes.get(project, volume), query.path, query.sort,
                                    query.order == "desc")
    page = page_of(listing.entries, query.page, query.per_page)
    args = {"per_page": query.per_page, **({"path": listing.path} if listing.path else {}),
            **({"sort": query.sort} if query.sort != "name" else {}),
            **({"order": query.order} if query.order != "asc" else {})}
    return vs.FileList(path=listing.path, items=[_entry(listing.path, e) for e in page.items], page=page.page,
                       per_page=page.per_page, total=page.total,
                       links=page_links(page.page, page.pages, **args))


@bp.get(CONTENT)
@spec.validate(query=vs.FileQuery, resp=Response(HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="downloadVolumeFile")
def volume_file_download(name: str, volume: str, query: vs.FileQuery):
    """The file's bytes (200, application/octet-stream, streamed, with its Content-Length and
    a Content-Disposition naming it). A folder, or a link, is a 422."""
    project, _role = project_for(name)
    handle, entry = volumes.files.open_file(actor(), project, volumes.get(project, volume), query.path)
    db.session.remove()  # the body may take long: give the connection back now
    # A plain werkzeug Response: SpecTree passes it through (a flask.Response it would read whole).
    response = StreamedResponse(wrap_file(request.environ, handle), mimetype=OCTET_STREAM, direct_passthrough=True)
    response.content_length = entry.size
    response.headers.set("Content-Disposition", "attachment", filename=entry.name)
    response.headers["Cache-Control"] = "no-store"
    return response


def _raw_body_problem():
    """The page's checks of a raw body (411, 413, 415), as a problem."""
    refused = raw_body_refusal(
        "file", int(current_app.config["VOLUME_UPLOAD_MAX_BYTES"]),
        no_length=_("The upload has no Content-Length: send the file as one body of known size."),
        too_large=lambda length, limit: _("The file is %(size)s, more than the limit of %(limit)s "
                                          "(HUMMER_VOLUME_UPLOAD_MAX_BYTES).", size=length, limit=limit),
        not_raw=_("Send the file itself as the body, with Content-Type: application/octet-stream."))
    if refused is None:
        return None
    body, status = refused
    return problem(status, title(status), body.get_json()["message"])


@bp.put(CONTENT)
@spec.validate(query=vs.UploadQuery, resp=Response(HTTP_201=vs.Uploaded, **RAW_ERRORS, **CHANGE_ERRORS),
               tags=[TAG], operation_id="uploadVolumeFile")
def volume_file_upload(name: str, volume: str, query: vs.UploadQuery):
    """Store the request body (application/octet-stream, with a Content-Length) as the file
    `path` (developer). Its folder must exist; a file of that name is replaced only with
    ?overwrite=true. A body that does not fit in what the volume has left is a 413."""
    project, _role = project_for(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    refused = _raw_body_problem()
    if refused is not None:
        return refused
    length = request.content_length
    try:
        path = volumes.files.clean(query.path)  # refuses '..', absolute paths and bad names
        if not path or query.path.endswith("/"):
            raise Invalid("path", _("Name the file to upload: path=folder/name."))
        folder, _slash, file_name = path.rpartition("/")
        written = volumes.files.upload(actor(), project, row, folder, file_name, upload_body(length), length,
                                       overwrite=query.overwrite)
    except (ClientDisconnected, RequestEntityTooLarge):
        return problem(400, title(400), _("The upload stopped before the whole file arrived; nothing was kept."))
    except ServiceError as error:
        drain_body()
        if isinstance(error, Invalid) and error.field == "name":  # the page's field; here it is in `path`
            raise Invalid("path", error.message) from error
        raise
    return vs.Uploaded(path=path, size=written), 201


@bp.delete("/projects/<name>/volumes/<volume>/files")
@spec.validate(query=vs.FileQuery, resp=Response(HTTP_200=vs.FileDeleted, **CHANGE_ERRORS),
               tags=[TAG], operation_id="deleteVolumeFile")
def volume_file_delete(name: str, volume: str, query: vs.FileQuery):
    """Delete a file, a link (never what it points to) or a folder with everything in it
    (developer), at once and for good, as the file browser does."""
    project, _role = project_for(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    path = volumes.files.clean(query.path)
    volumes.files.delete(actor(), project, row, path)
    return vs.FileDeleted(deleted=path)
