"""Image builds of a project: the history, the form, a build's page with its live log."""
from flask import Blueprint

bp = Blueprint("builds", __name__, url_prefix="/projects/<name>/builds")

from portal.builds import routes  # noqa: E402,F401
