"""Fixtures shared by the whole suite (flaskr/microblog style: app, client, web, runner).

Every test that uses `app` runs once per metadata backend (SQLite and MariaDB).
"""
from __future__ import annotations

import contextlib

import pytest
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from portal import create_app
from portal.extensions import db
from portal.models import Membership, Project, Role, User
from tests.support import databases
from tests.support.web import Web

# The real Kubernetes control plane and the real Salt master (also one with its minions on
# network-namespace hosts), started once per session when used.
pytest_plugins = ["tests.support.kube_fixtures", "tests.support.salt_fixtures", "tests.support.netns_fixtures"]

PASSWORD = "correct-horse-1"


@pytest.fixture(scope="session")
def password_hash():
    """One real werkzeug hash, reused so that fixtures do not pay for scrypt each time."""
    return generate_password_hash(PASSWORD)


@pytest.fixture(scope="session", params=databases.backends())
def database_url(request, tmp_path_factory):
    """A migrated database per backend, for the whole session."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hummer.db'}"
        else:
            url = stack.enter_context(databases.mariadb_database())
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test",
                          "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance"))})
        with app.app_context():
            upgrade()  # the real Alembic migrations, not create_all()
            db.engine.dispose()
        yield url


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "LOGIN_LOCKOUT_SECONDS": 60,
        "SALT_PILLAR_FILE": str(tmp_path / "pillar" / "cluster.yaml"),
    })
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def web(client):
    return Web(client)


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app, password_hash):
    def make(username: str, admin: bool = False, disabled: bool = False) -> User:
        user = User(username=username, password_hash=password_hash, is_admin=admin,
                    disabled=disabled)
        db.session.add(user)
        db.session.commit()
        return user
    return make


@pytest.fixture
def make_project(app):
    def make(name: str, members: dict[User, Role | str]) -> Project:
        project = Project(name=name, display_name=name.capitalize())
        for user, role in members.items():
            project.memberships.append(Membership(user=user, role=Role(role).value))
        db.session.add(project)
        db.session.commit()
        return project
    return make


@pytest.fixture
def team(make_user, make_project):
    """A project 'alpha' with one user per role, a stranger and an admin."""
    people = {name: make_user(name) for name in ("olivia", "dev", "vic", "stranger")}
    people["root"] = make_user("root", admin=True)
    project = make_project("alpha", {people["olivia"]: Role.OWNER, people["dev"]: Role.DEVELOPER,
                                     people["vic"]: Role.VIEWER})
    return project, people


@pytest.fixture
def login(web):
    def as_user(username: str, password: str = PASSWORD):
        response = web.login(username, password)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return web
    return as_user
