"""Browsing the project's images in the registry, and deleting a tag.

URLs carry the full repository name (<project>/<name>, or another project's public one), so
that a public repository reads like the project's own; "/-/" separates it from what follows
(a repository name never has a "-" part). The <repository:...> converter takes only what the
registry's grammar allows (no "..", no upper case, no empty part); the service then refuses
any name outside the project's prefix and the public ones with a 404, whatever the registry holds.
"""
from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.images import bp
from portal.models import Role
from portal.services import authz
from portal.services.errors import Conflict, ServiceError
from portal.services.images import access, catalog, deletion
from portal.web import actor, page_number, redirect_to, render


@bp.before_request
@login_required
def require_login():
    """Every image URL needs a logged-in user."""


def _project(name: str, need: Role = Role.VIEWER):
    return authz.get_project(current_user, name, need)


@bp.route("")
def index(name):
    project, role = _project(name)
    banner, repositories, storage = "", None, None
    if not access.configured():
        banner = str(access.NOT_CONFIGURED)
    else:
        try:
            found = catalog.overview(project)
            repositories, storage = found.repositories, found.storage
        except ServiceError as error:  # unreachable, credentials refused, not a registry at all
            banner, repositories = error.message, None
    return render("images/index.html", project=project, role=role, banner=banner,
                  repositories=repositories, storage=storage, may_upload=role.at_least(Role.DEVELOPER))


@bp.route("/<repository:repository>")
def repository(name, repository):
    project, role = _project(name)
    public = catalog.readable(project, repository)
    page = catalog.tag_page(project, repository, page_number(), current_app.config["PAGE_SIZE"])
    return render("images/repository.html", "images/_tags.html", project=project, role=role,
                  repository=repository, public=public, page=page)


@bp.route("/<repository:repository>/-/tags/<tag>")
def tag(name, repository, tag):
    project, role = _project(name)
    public = catalog.readable(project, repository)
    found = catalog.tag(project, repository, tag)
    may_delete = not public and role.at_least(Role.DEVELOPER)
    return render("images/tag.html", project=project, role=role, repository=repository, public=public,
                  t=found, may_delete=may_delete, may_deploy=role.at_least(Role.DEVELOPER))


@bp.route("/<repository:repository>/-/tags/<tag>/delete", methods=["GET", "POST"])
def delete(name, repository, tag):
    project, role = _project(name, Role.DEVELOPER)
    catalog.own(project, repository)
    catalog.check_tag(tag)
    status, error = 200, ""
    if request.method == "POST":
        digest = request.form.get("digest", "")
        try:  # no form to read beyond the digest: CSRFProtect checked the token before the view ran
            gone = deletion.delete(project, repository, tag, digest, by=actor())
        except Conflict as conflict:
            status, error = 409, conflict.message
        else:
            image, tags = repository + ":" + tag, ", ".join(gone)
            flash(_("Deleted %(image)s (digest %(digest)s), with its tags: %(tags)s.",
                    image=image, digest=digest[:19], tags=tags), "success")
            return redirect_to(url_for("images.repository", name=name, repository=repository))
    plan = deletion.plan(project, repository, tag)
    return render("images/delete.html", project=project, role=role, repository=repository, tag=tag,
                  plan=plan, error=error, status=status)
