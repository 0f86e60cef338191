from flask import Blueprint

bp = Blueprint("apps", __name__, url_prefix="/projects/<name>/apps")

from portal.apps import monitoring, routes  # noqa: E402,F401
