"""Fixtures shared by the whole suite (flaskr/microblog style: app, client, web, runner).

Which metadata backends a test that uses `app` (or `database_url`) runs on is decided here
and nowhere else (`backends_for`): models, queries, migrations, the role matrix and the CLI
on every backend of HUMMER_TEST_DATABASES (SQLite and MariaDB); tests whose subject is
Kubernetes, Salt, SSH or the browser on MariaDB only, the production database (on SQLite
when HUMMER_TEST_DATABASES=sqlite, for a fast loop). The terminal summary counts the tests
that ran on each backend.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import jinja2
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.security import generate_password_hash

from portal import config, create_app
from portal.extensions import db, limiter
from portal.models import Membership, Project, Role, User
from tests.support import databases
from tests.support.web import Web

# The real Kubernetes control plane, the real Salt master (also one with its minions on
# network-namespace hosts), the real registries, InfluxDB, buildah's base image and a git
# daemon, started once per session when used.
pytest_plugins = ["tests.support.kube_fixtures", "tests.support.salt_fixtures", "tests.support.netns_fixtures",
                  "tests.support.registry", "tests.support.influx", "tests.support.buildah",
                  "tests.support.git_daemon"]

PASSWORD = "correct-horse-1"

# Whose subject is Kubernetes, Salt, SSH or the browser: the SQL dialect is not what they test.
DIALECT_FREE_DIRS = ("apps", "cluster", "salt", "kube", "adapters", "registry")
DIALECT_FREE_FIXTURES = frozenset({
    "kube_cluster", "kube_api", "kube_namespace", "kubelet",  # the real control plane
    "salt_env", "salt_api", "netns_salt", "netns_portal",     # the real Salt master, netns hosts
    "sshd",                                                   # a real OpenSSH server
    "registries",                                             # real docker-registry servers
    "influx", "influx_empty",                                 # a real influxd
})
DIALECT_FREE_MARKERS = ("browser", "kube")
TESTS = Path(__file__).resolve().parent


def in_tests(path) -> Path | None:
    """A test file's path under tests/ (None for one elsewhere)."""
    try:
        return Path(str(path)).resolve().relative_to(TESTS)
    except ValueError:
        return None


def backends_for(metafunc) -> list[str]:
    """The backends a test runs on: every one asked for, or only the production database
    (MariaDB) for a test whose subject is not SQL (see the module docstring)."""
    wanted = databases.backends()
    relative = in_tests(metafunc.definition.path)
    dialect_free = (
        relative is not None and relative.parts[0] in DIALECT_FREE_DIRS
        or bool(DIALECT_FREE_FIXTURES & set(metafunc.fixturenames))
        or any(metafunc.definition.get_closest_marker(m) for m in DIALECT_FREE_MARKERS))
    if dialect_free and "mariadb" in wanted:
        return ["mariadb"]
    return wanted


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        names = backends_for(metafunc)
        metafunc.parametrize("database_url", names, ids=names, indirect=True, scope="session")


# The files that take a minute or more of one worker (Salt orchestrations, salt-ssh, a fresh
# clone, browsers, live gunicorns), heaviest first, as measured on 2 cores. They run before
# every other file, so that no worker is left with one of them while the others have
# finished: pytest-xdist (--dist loadfile) hands out whole files in collection order, and
# ./hummer test passes --no-loadscope-reorder, which would otherwise put the files with the
# most tests first and these last. A file missing here only runs later.
HEAVY_FIRST = (
    "cluster/test_wizard.py", "cluster/test_run_resume.py", "cluster/test_multinode.py",
    "cluster/test_ssh_hosts.py", "cluster/test_wizard_browser.py", "test_bad_input.py",
    "cluster/test_ssh_injection.py", "test_auth_live.py", "test_access_matrix.py", "api/test_api_matrix.py",
    "salt/test_orchestrate.py", "test_first_run.py", "salt/test_registry_gc.py",
    "cluster/test_wizard_input.py", "cluster/test_register.py", "test_console_browser.py",
    "kube/test_cluster.py", "test_auth.py", "salt/test_render.py", "salt/test_events.py",
    "images/test_upload.py", "apps/test_browser_apps.py", "test_database_faults.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """The HEAVY_FIRST files first (a stable sort: every file keeps its own order)."""
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}

    def weight(item) -> int:
        relative = in_tests(item.path)
        return len(rank) if relative is None else rank.get(relative.as_posix(), len(rank))
    items.sort(key=weight)


_ran: Counter = Counter()


_busy: Counter = Counter()


def pytest_runtest_logreport(report):
    """Count each test once, by its call (or by its setup when that failed or skipped); and
    add up each xdist worker's time in tests (an unbalanced end shows in the summary)."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _ran[getattr(report, "backend", None) or "no database"] += 1
    worker = getattr(getattr(getattr(report, "node", None), "gateway", None), "id", None)
    if worker:
        _busy[worker] += report.duration


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    callspec = getattr(item, "callspec", None)
    report.backend = callspec.params.get("database_url") if callspec else None
    return report


def pytest_terminal_summary(terminalreporter):
    if _ran:
        counts = ", ".join(f"{name} {_ran[name]}" for name in (*databases.backends(), "no database")
                           if _ran[name])
        terminalreporter.write_line(f"tests per database backend: {counts}")
    if _busy:
        busy = ", ".join(f"{w} {_busy[w]:.0f} s" for w in sorted(_busy))
        terminalreporter.write_line(f"time in tests per worker: {busy}")


# The test users' password hash: a real werkzeug hash, but PBKDF2 with few rounds, so that
# each login of the suite's ~1,500 does not pay for an scrypt check (0.1 s, and 32 MB, each).
# The portal's own hashes (new users, new passwords, the dummy one) stay scrypt; the tests
# that time or race the check use production_password_hash instead (test_auth*.py).
TEST_HASH_METHOD = "pbkdf2:sha256:1000"


@pytest.fixture(scope="session")
def password_hash():
    """One werkzeug hash of PASSWORD, cheap to check (TEST_HASH_METHOD), reused by fixtures."""
    return generate_password_hash(PASSWORD, method=TEST_HASH_METHOD)


@pytest.fixture(scope="session")
def production_password_hash():
    """PASSWORD hashed as the portal hashes it (werkzeug's default, scrypt)."""
    return generate_password_hash(PASSWORD)


@pytest.fixture(scope="session")
def _migrated_databases(tmp_path_factory):
    """Each backend's migrated database, made when a test first asks for it and kept until
    the session ends. A worker runs file after file, and each file's tests come backend by
    backend, so the parametrized `database_url` changes backend at nearly every file: it
    takes the database from here instead of creating and migrating a new one each time."""
    with contextlib.ExitStack() as stack:
        made: dict[str, str] = {}

        def url_of(backend: str) -> str:
            if backend not in made:
                if backend == "sqlite":
                    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hummer.db'}"
                else:
                    url = stack.enter_context(databases.mariadb_database())
                app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test",
                                  "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance"))})
                with app.app_context():
                    upgrade()  # the real Alembic migrations, not create_all()
                    db.engine.dispose()
                made[backend] = url
            return made[backend]
        yield url_of


@pytest.fixture(scope="session")
def database_url(request, _migrated_databases):
    """A migrated database per backend, for the whole session (parametrized by
    pytest_generate_tests: which backends a test runs on is decided there). Tests leave it
    with empty tables (`app`)."""
    return _migrated_databases(request.param)


class _TemplateCodeCache(jinja2.BytecodeCache):
    """The compiled templates, shared by the session's apps (each test makes its own app,
    whose Jinja environment would compile every template again). Jinja checks each entry
    against the template's source, so a changed template is compiled anew."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = _TemplateCodeCache()


def _new_app(database_url: str, tmp_path: Path):
    # The portal's engine options, but no ping before each checkout: a test's connections are
    # minutes old at most (the ping is for a server that dropped an idle one), and on MariaDB
    # it was one round trip in eight. tests/test_database_faults.py runs the real options.
    engine = config.engine_options(database_url, 3) | {"pool_pre_ping": False}
    app = create_app({
        "SQLALCHEMY_ENGINE_OPTIONS": engine,
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "LOGIN_LOCKOUT_SECONDS": 60,
        "SALT_PILLAR_FILE": str(tmp_path / "pillar" / "cluster.yaml"),
        # the build slots are files in BUILD_DIR: each test has its own (config.load() puts
        # them under the default instance folder, which every test of every worker shares)
        "BUILD_DIR": str(tmp_path / "builds"),
        "NFS_ROOT": str(tmp_path / "nfs"),  # the same for the volumes' export
    })
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    return app


def _empty_tables() -> None:
    """Delete every row, asking first in one query which tables have any (a test fills a
    few of the twenty-odd: on MariaDB a DELETE per table was a round trip each)."""
    db.session.remove()
    tables = list(reversed(db.metadata.sorted_tables))
    with db.engine.begin() as conn:
        used = conn.execute(sa.select(*(sa.exists().select_from(t).label(f"t{i}")
                                         for i, t in enumerate(tables)))).one()
        for table, rows in zip(tables, used, strict=True):
            if rows:
                conn.execute(table.delete())


@pytest.fixture(scope="module")
def _module_app(database_url, tmp_path_factory):
    """One app for a whole module (and backend): see `app` and the `reuse_app` marker."""
    app = _new_app(database_url, tmp_path_factory.mktemp("module-app"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(request, database_url, tmp_path):
    """A new app for each test, on empty tables.

    A module marked `pytest.mark.reuse_app` (hundreds of parametrized requests, none of which
    touches the app beyond its config) shares one app instead: a new app costs about 0.15 s
    (its routes compiled, its first requests' templates and connections). Between its tests
    the tables are emptied as here, the config is restored, the rate limits are reset and the
    pillar file moves to the test's own directory."""
    if request.node.get_closest_marker("reuse_app"):
        app = request.getfixturevalue("_module_app")
        saved = dict(app.config)
        app.config["SALT_PILLAR_FILE"] = str(tmp_path / "pillar" / "cluster.yaml")
        limiter.reset()
        try:
            with app.app_context():
                yield app
                _empty_tables()
        finally:
            app.config.clear()
            app.config.update(saved)
        return
    app = _new_app(database_url, tmp_path)
    with app.app_context():
        yield app
        _empty_tables()
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
