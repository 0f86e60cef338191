"""Volumes: thin routes over services/volumes.

    GET       /projects/<name>/volumes                   the list, with usage (viewer and up)
    GET, POST /projects/<name>/volumes/new               create (developer and up)
    GET       /projects/<name>/volumes/<volume>          its page: usage, apps, resize, delete
    POST      /projects/<name>/volumes/<volume>/resize   (developer and up)
    GET, POST /projects/<name>/volumes/<volume>/delete   typed confirmation (developer and up)

The file browser's routes are in files.py.
"""
from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.forms import attach
from portal.models import Role
from portal.services import authz, kube_access, volumes
from portal.services.errors import Conflict, Invalid
from portal.volumes import bp
from portal.volumes.forms import ConfirmForm, ResizeForm, VolumeForm
from portal.web import actor, redirect_to, render


def project_of(name: str, need: Role = Role.VIEWER):
    return authz.get_project(current_user, name, need)


@bp.route("")
@login_required
def index(name):
    project, role = project_of(name)
    rows = volumes.volumes_of(project)
    levels = {v.name: (volumes.level(v), volumes.percent(v)) for v in rows}
    return render("volumes/index.html", project=project, role=role, rows=rows, levels=levels,
                  phases=volumes.claim_phases(project), may_change=role.at_least(Role.DEVELOPER),
                  cluster=kube_access.state())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new(name):
    project, role = project_of(name, Role.DEVELOPER)
    form = VolumeForm()
    status = 200
    if form.validate_on_submit():
        try:
            volume = volumes.create(actor(), project, form.name.data, form.capacity.data, form.access_mode.data,
                                    form.description.data)
        except Invalid as error:
            attach(form, error)
            status = 422
        else:
            flash(_("Volume %(name)s created.", name=volume.name), "success")
            return redirect_to(url_for("volumes.detail", name=project.name, volume=volume.name))
    elif form.is_submitted():
        status = 400
    return render("volumes/new.html", "volumes/_form.html", status=status, project=project, role=role, form=form)


def _detail(project, role, volume, resize_form=None, status=200, note=""):
    return render("volumes/detail.html", status=status, project=project, role=role, volume=volume,
                  phase=volumes.claim_phases(project).get(volume.name, ""),
                  apps=volumes.mounted_by(project, volume.name), level=volumes.level(volume),
                  percent=volumes.percent(volume), form=resize_form or ResizeForm(capacity=volume.capacity),
                  may_change=role.at_least(Role.DEVELOPER), note=note)


@bp.route("/<volume>")
@login_required
def detail(name, volume):
    project, role = project_of(name)
    return _detail(project, role, volumes.get(project, volume))


@bp.route("/<volume>/resize", methods=["POST"])
@login_required
def resize(name, volume):
    project, role = project_of(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    form = ResizeForm()
    if not form.validate_on_submit():
        return _detail(project, role, row, form, status=400)
    try:
        note = volumes.resize(actor(), project, row.name, form.capacity.data)
    except Invalid as error:
        attach(form, error)
        return _detail(project, role, row, form, status=422)
    flash(_("%(name)s now has a capacity of %(capacity)s.", name=row.name, capacity=row.capacity)
          + (" " + note if note else ""), "success")
    return redirect_to(url_for("volumes.detail", name=project.name, volume=row.name))


@bp.route("/<volume>/delete", methods=["GET", "POST"])
@login_required
def delete(name, volume):
    project, role = project_of(name, Role.DEVELOPER)
    row = volumes.get(project, volume)
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                volumes.delete(actor(), project, row.name, form.confirm.data)
            except (Invalid, Conflict) as error:
                form.confirm.errors = [error.message] if isinstance(error, Invalid) and error.field else []
                if not form.confirm.errors:
                    form.form_errors.append(error.message)
                status = error.status
            else:
                flash(_("Volume %(name)s deleted; its files are in the trash for %(days)d days.", name=row.name,
                        days=int(current_app.config["VOLUME_TRASH_DAYS"])), "success")
                return redirect_to(url_for("volumes.index", name=project.name))
        else:
            status = 400
    return render("volumes/delete.html", status=status, project=project, role=role, volume=row, form=form,
                  apps=volumes.mounted_by(project, row.name, fresh=True))

