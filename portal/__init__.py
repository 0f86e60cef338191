"""Hummer portal: create_app() builds the Flask application."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from portal import config as config_module
from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def _private_sqlite_file(uri: str, instance: Path) -> None:
    """Create an SQLite database file 0600 before SQLAlchemy does (with the umask's 0644).

    SQLite gives its -wal and -shm files the database file's mode, so they stay private
    too. An existing file is left as it is."""
    url = make_url(uri)
    path = url.database
    if url.get_backend_name() != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return
    path = instance / path  # Flask-SQLAlchemy reads a relative path in the instance folder
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        pass  # its folder is missing: SQLAlchemy names that error when it connects


def _database_errors(app: Flask) -> None:
    """An unreachable or hung database (connect/read timeout, pool exhausted) answers 503
    with a page that says so, rendered without touching the database again."""
    from flask import g
    from flask_babel import gettext as _
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from portal.web import _error_page

    def unreachable(error):
        app.logger.warning("database unreachable: %s", error)
        # The page's layout asks for current_user: answer "anonymous" instead of a second
        # try at loading the user from the database that just failed.
        g._login_user = login_manager.anonymous_user()
        try:
            db.session.rollback()
        except Exception:  # the connection is already gone; the pool has invalidated it
            pass
        body, status = _error_page(
            503, _("Database unreachable"),
            _("The portal cannot reach its database right now. Nothing was changed; "
              "try again in a moment."))
        return body, status, {"Retry-After": "10"}

    app.register_error_handler(OperationalError, unreachable)
    app.register_error_handler(PoolTimeout, unreachable)


def create_app(config: dict | None = None) -> Flask:
    settings = config_module.load()
    settings.update(config or {})
    instance = Path(settings["INSTANCE_PATH"])
    # The instance folder holds the secret key and, by default, the database: the
    # portal's user only (mode 0700 when created here), and so is an SQLite file.
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    _private_sqlite_file(settings["SQLALCHEMY_DATABASE_URI"], instance)

    app = Flask(__name__, instance_path=str(instance), instance_relative_config=False)
    app.config.update(settings)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", config_module.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["DATABASE_TIMEOUT"]))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.secret_key(instance)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    limiter.init_app(app)  # before CSRF: a flood is cut before anything else runs
    csrf.init_app(app)
    htmx.init_app(app)

    from portal import i18n
    i18n.init_app(app)

    from portal import web
    web.init_app(app)

    from portal.admin import bp as admin_bp
    from portal.alerts import bp as alerts_bp
    from portal.api import bp as api_bp
    from portal.apps import bp as apps_bp
    from portal.auth import bp as auth_bp
    from portal.builds import bp as builds_bp
    from portal.cluster import bp as cluster_bp
    from portal.converters import CONVERTERS
    from portal.dashboard import bp as dashboard_bp
    from portal.images import bp as images_bp
    from portal.projects import bp as projects_bp
    from portal.volumes import bp as volumes_bp
    app.url_map.converters.update(CONVERTERS)
    for bp in (auth_bp, dashboard_bp, projects_bp, apps_bp, images_bp, builds_bp, volumes_bp, admin_bp,
               cluster_bp, alerts_bp, api_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # only bearer tokens authenticate there: no session, so nothing to forge

    _database_errors(app)

    from portal.services import provisioning
    provisioning.init_app(app)  # the process's run supervisor, from its first request
    from portal.services import builds
    builds.init_app(app)  # the same supervisor looks after the builds' queue
    from portal.services import volumes
    volumes.init_app(app)  # ... and starts the volumes' usage scans
    from portal.services import alerts
    alerts.init_app(app)  # ... and the alerts' evaluator, in one process of the cluster at a time
    from portal.services import metrics
    metrics.init_app(app)  # ... and records the autoscalers' history

    from portal import cli
    cli.init_app(app)
    return app
