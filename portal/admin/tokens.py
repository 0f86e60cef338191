"""Every user's API tokens, for the administrator: list and revoke."""
from flask import flash, request, url_for
from flask_babel import gettext as _

from portal.admin import bp
from portal.services import tokens
from portal.web import actor, paginate, redirect_to, render


@bp.route("/tokens")
def token_list():
    q = request.args.get("q", "").strip()
    return render("admin/tokens.html", page=paginate(tokens.listing(q)), q=q)


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
def token_revoke(token_id):
    name = tokens.revoke(token_id, by=actor())
    flash(_("The token %(name)s is revoked: it no longer works.", name=name), "success")
    return redirect_to(url_for("admin.token_list"))
