from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import language, routes, tokens  # noqa: E402,F401
