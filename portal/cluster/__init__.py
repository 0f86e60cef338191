from flask import Blueprint

bp = Blueprint("cluster", __name__, url_prefix="/cluster")

from portal.cluster import metrics, routes  # noqa: E402,F401
