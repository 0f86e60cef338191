"""Extensions, created once here and bound to an app in create_app()."""
import sqlite3
import time

from flask import current_app, request
from flask_babel import gettext as _
from flask_limiter import ApplicationLimit, Limiter
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names keep Alembic migrations portable between
# SQLite and MariaDB.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()


def _anonymous_exempt() -> bool:
    """The anonymous limit leaves logged-in users and the health probe alone (static files
    are never limited)."""
    # The API has its own limits, per token and per address (portal.api.core), and never
    # looks at a session: current_user is not loaded for it.
    return (request.endpoint in ANONYMOUS_EXEMPT or request.blueprint == "api"
            or current_user.is_authenticated)


def breach_message(what: str = "requests") -> str:
    """'Too many … from your address. Try again in N seconds.' for the limit just hit;
    `what` is "requests" or "login attempts". (Always "seconds": clients match the words.)"""
    hit = limiter.current_limit
    wait = max(1, int(hit.reset_at - time.time())) if hit else 60
    if what == "login attempts":
        return _("Too many login attempts from your address. Try again in %(num)d seconds.", num=wait)
    return _("Too many requests from your address. Try again in %(num)d seconds.", num=wait)


ANONYMOUS_EXEMPT = {"dashboard.healthz"}


def client_address() -> str:
    """The client's address: the one way the portal reads it (audit events, login failures
    and lockouts, rate limits). It is request.remote_addr, which werkzeug's ProxyFix
    (portal.web._Forwarded) takes from X-Forwarded-For only when HUMMER_PROXY_COUNT proxies
    are trusted, and then only from their hops; with none, the peer's own address."""
    return request.remote_addr or ""


# Keyed on the client's address (client_address). The limits are read from app.config on every
# request (ANONYMOUS_RATE_LIMIT here, LOGIN_RATE_LIMIT on the login form), so a test or an
# operator can change them.
limiter = Limiter(
    key_func=client_address,
    headers_enabled=True,
    application_limits=[ApplicationLimit(
        lambda: current_app.config["ANONYMOUS_RATE_LIMIT"],
        exempt_when=_anonymous_exempt,
        error_message=lambda: breach_message("requests"),
    )],
)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite in WAL mode: readers (page requests) never block the writer (a run's follower
    thread, another gunicorn worker), and a writer waits for a lock instead of failing."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
