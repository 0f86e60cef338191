"""The registry's garbage collection: a dry run, the real run (followed on its page), the history.

Admins only (the blueprint's before_request, and the service checks again)."""
from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.admin import bp
from portal.services.errors import Conflict, Unavailable
from portal.services.images import gc
from portal.services.provisioning.access import SALT_NOT_CONFIGURED
from portal.web import actor, redirect_to, render


def _page(status: int = 200, found=None, error: str = "", oob: bool = False):
    salt_missing = not gc.salt_configured()
    node = gc.registry_node()
    return render("admin/registry_gc.html", "admin/_gc_dry_run.html", status=status,
                  salt_missing=salt_missing, salt_reason=SALT_NOT_CONFIGURED, node=node,
                  running=gc.running_run(), runs=gc.history(current_user), found=found, error=error,
                  shown=gc.SHOWN_BLOBS, oob=oob)


@bp.route("/registry/gc")
def registry_gc():
    return _page()


@bp.route("/registry/gc/dry-run", methods=["POST"])
def registry_gc_dry_run():
    try:
        found = gc.dry_run(actor())
    except (Unavailable, Conflict) as error:
        return _page(error.status, error=error.message, oob=True)
    return _page(found=found, oob=True)


def _start_consequence() -> str:
    return _("The registry stops while the garbage collection runs (pushes and pulls fail meanwhile) "
             "and starts again afterwards. Deleted blobs cannot be brought back.")


@bp.route("/registry/gc/run", methods=["GET", "POST"])
def registry_gc_start():
    if request.method == "GET":  # the confirm page, for browsers without JavaScript
        return render("_confirm.html", question=_("Collect the registry's garbage now?"),
                      consequence=_start_consequence(), label=_("Collect garbage"),
                      action=url_for("admin.registry_gc_start"), cancel=url_for("admin.registry_gc"))
    try:
        run = gc.start(actor())
    except (Unavailable, Conflict) as error:
        return _page(error.status, error=error.message)
    return redirect_to(url_for("admin.registry_gc_run", run_id=run.id))


@bp.route("/registry/gc/runs/<int:run_id>")
def registry_gc_run(run_id):
    run = gc.get_run(current_user, run_id)
    return render("admin/registry_gc_run.html", "admin/_gc_run.html", run=run)
