from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from portal.admin import registry, routes, tokens, volumes  # noqa: E402,F401
