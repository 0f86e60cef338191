"""A project's persistent volumes: the list, a volume's page, its file browser."""
from flask import Blueprint

bp = Blueprint("volumes", __name__, url_prefix="/projects/<name>/volumes")

from portal.volumes import files, routes  # noqa: E402,F401
