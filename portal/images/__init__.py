"""Images in the project's private registry: browse, upload, delete, retention, public images.

Each module below adds its routes to this one blueprint."""
from flask import Blueprint

bp = Blueprint("images", __name__, url_prefix="/projects/<name>/images")

from portal.images import retention, routes, upload  # noqa: E402,F401
