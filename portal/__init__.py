"""Hummer portal: create_app() builds the Flask application."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from portal import config as config_module
from portal.extensions import csrf, db, htmx, limiter, login_manager, migrate

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


def create_app(config: dict | None = None) -> Flask:
    settings = config_module.load()
    settings.update(config or {})
    instance = Path(settings["INSTANCE_PATH"])
    instance.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__, instance_path=str(instance), instance_relative_config=False)
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config_module.secret_key(instance)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    limiter.init_app(app)  # before CSRF: a flood is cut before anything else runs
    csrf.init_app(app)
    htmx.init_app(app)

    from portal import web
    web.init_app(app)

    from portal.admin import bp as admin_bp
    from portal.apps import bp as apps_bp
    from portal.auth import bp as auth_bp
    from portal.dashboard import bp as dashboard_bp
    from portal.projects import bp as projects_bp

    from portal.cluster import bp as cluster_bp

    for bp in (auth_bp, dashboard_bp, projects_bp, apps_bp, admin_bp, cluster_bp):
        app.register_blueprint(bp)

    from portal import cli
    cli.init_app(app)
    return app
