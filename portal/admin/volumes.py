"""Deleted volumes in the trash: list, restore into their project, purge. Admins only (the
blueprint's before_request; the service checks again)."""
from flask import flash, request, url_for
from flask_babel import gettext as _

from portal.admin import bp
from portal.services import volumes
from portal.services.errors import Invalid
from portal.web import actor, redirect_to, render


def _page(status: int = 200, error: str = ""):
    entries = volumes.trash.entries()
    return render("admin/volume_trash.html", status=status, entries=entries, error=error,
                  expires={e.id: volumes.trash.expires_at(e) for e in entries})


@bp.route("/volumes/trash")
def volume_trash():
    return _page()


@bp.route("/volumes/trash/<int:entry_id>/restore", methods=["POST"])
def volume_restore(entry_id):
    try:
        volume = volumes.trash.restore(actor(), entry_id)
    except Invalid as error:
        return _page(422, error.message)
    flash(_("Volume %(name)s restored into project %(project)s.", name=volume.name, project=volume.project_name),
          "success")
    return redirect_to(url_for("volumes.detail", name=volume.project_name, volume=volume.name))


@bp.route("/volumes/trash/<int:entry_id>/purge", methods=["GET", "POST"])
def volume_purge(entry_id):
    if request.method == "GET":
        return render("_confirm.html", question=_("Purge these files for good?"),
                      consequence=_("The deleted volume's files are removed from the NFS export; they cannot be "
                                    "restored afterwards."), label=_("Purge"),
                      action=url_for("admin.volume_purge", entry_id=entry_id), cancel=url_for("admin.volume_trash"))
    volumes.trash.purge(actor(), entry_id)
    flash(_("Purged."), "success")
    return redirect_to(url_for("admin.volume_trash"))
