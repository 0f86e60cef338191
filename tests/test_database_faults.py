"""A hung or stopped database: the portal answers within seconds, says what is wrong, and
recovers by itself.

The database is a private mariadbd of this module's own (tests/support/private_mariadb.py),
never the shared server, frozen with SIGSTOP (a hung host: connections open, nothing
answers), thawed, and killed. The portal is a real gunicorn (one worker, four threads, as
./hummer run starts it) with HUMMER_DATABASE_TIMEOUT=2.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask_migrate import upgrade

from portal import create_app
from portal.extensions import db
from portal.models import User
from tests.conftest import PASSWORD
from tests.support.live_portal import portal_env, serve
from tests.support.private_mariadb import PrivateMariaDB
from tests.support.waiting import wait_for
from tests.support.web import TOKEN

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 2  # HUMMER_DATABASE_TIMEOUT for the portal under test
# A request may try the database twice (the pool's pre-ping, then a fresh connect), and
# the machine is shared: generous, but far below the 25 s a frozen database used to cost.
BOUND = 4 * TIMEOUT + 3


@contextmanager
def gunicorn(database_url: str, tmp_path: Path):
    env = portal_env(database_url, tmp_path / "instance", DATABASE_TIMEOUT=TIMEOUT)
    with serve(env, tmp_path / "gunicorn.log", workers=1, threads=4) as portal:
        yield portal.base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PrivateMariaDB(tmp_path_factory.mktemp("private-mariadb")) as server:
        yield server


def migrate_with_ann(url: str, tmp_path, password_hash) -> None:
    """The real migrations on the private server's database, and one user, ann."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x" * 32,
                      "INSTANCE_PATH": str(tmp_path / "migrate")})
    with app.app_context():
        upgrade()
        db.session.add(User(username="ann", password_hash=password_hash))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def portal(server, tmp_path, password_hash):
    url = server.url(f"hummer_{os.getpid()}_{int(time.time() * 1000) % 10**8}")
    migrate_with_ann(url, tmp_path, password_hash)
    with gunicorn(url, tmp_path) as base:
        yield base


def logged_in(base: str) -> requests.Session:
    session = requests.Session()
    token = TOKEN.search(session.get(base + "/login", timeout=30).text)
    response = session.post(base + "/login", data={"username": "ann", "password": PASSWORD,
                                                   "csrf_token": token.group(1) or token.group(2)},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:500]
    return session


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def waiting_on(port: int) -> int:
    """How many connections wait on the (frozen) server at 127.0.0.1:`port`: sent bytes it
    has not read (its sockets' receive queues) plus connections it has not accepted (its
    listening socket's queue), from the kernel's table (/proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    waiting = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] != local:
            continue
        rx_queue = int(fields[4].split(":")[1], 16)
        if fields[3] == "0A":  # LISTEN: rx_queue is the accept backlog
            waiting += rx_queue
        elif fields[3] == "01" and rx_queue:  # ESTABLISHED, with a request unread
            waiting += 1
    return waiting


def test_a_frozen_database_costs_seconds_not_the_whole_freeze(server, portal):
    session = logged_in(portal)
    assert session.get(portal + "/projects", timeout=30).status_code == 200
    health = requests.get(portal + "/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["checks"]["database"]["status"] == "up"

    server.freeze()
    try:
        with ThreadPoolExecutor(4) as pool:
            # Two logged-in pages hang on the database at the same time as the probes.
            pages = [pool.submit(timed, lambda: session.get(portal + "/projects", timeout=60)),
                     pool.submit(timed, lambda: session.get(portal + "/", timeout=60))]
            # Both page requests wait on the frozen database before the probes go out.
            wait_for(lambda: waiting_on(server.port) >= 2, timeout=30, interval=0.02,
                     what="both page requests to wait on the database")
            static, static_s = timed(lambda: requests.get(portal + "/static/hummer.css", timeout=60))
            health, health_s = timed(lambda: requests.get(portal + "/healthz", timeout=60))
            fragment, fragment_s = timed(lambda: session.get(
                portal + "/projects", headers={"HX-Request": "true", "HX-Target": "rows"}, timeout=60))
            results = [f.result(timeout=120) for f in pages]
    finally:
        server.thaw()

    print(f"database frozen: static {static_s:.2f} s, /healthz {health_s:.2f} s, pages "
          + ", ".join(f"{s:.2f} s" for _, s in results) + f", htmx fragment {fragment_s:.2f} s")
    assert static.status_code == 200 and static_s < 2, (static.status_code, static_s)
    assert health.status_code == 503 and health_s < BOUND, (health.status_code, health_s)
    assert health.json()["checks"]["database"]["status"] == "down", health.text
    for page, seconds in results:
        assert page.status_code == 503 and seconds < BOUND, (page.status_code, seconds)
        assert "Database unreachable" in page.text and "cannot reach its database" in page.text
        assert "Internal Server Error" not in page.text
    assert fragment.status_code == 503 and fragment_s < BOUND
    assert fragment.text.lstrip().startswith('<p class="error"') and "<html" not in fragment.text
    assert "cannot reach its database" in fragment.text

    # Thawed, the same session works again without a restart.
    deadline = time.monotonic() + 30
    while session.get(portal + "/projects", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the portal did not recover after the thaw"
        time.sleep(0.2)
    assert requests.get(portal + "/healthz", timeout=30).status_code == 200


def test_a_stopped_database_answers_503_at_once(tmp_path_factory, password_hash, tmp_path):
    with PrivateMariaDB(tmp_path_factory.mktemp("stopped-mariadb")) as own:
        url = own.url("hummer")
        migrate_with_ann(url, tmp_path, password_hash)
        with gunicorn(url, tmp_path) as base:
            session = logged_in(base)
            own.stop()
            page, page_s = timed(lambda: session.get(base + "/projects", timeout=60))
            health, health_s = timed(lambda: requests.get(base + "/healthz", timeout=60))
            static, static_s = timed(lambda: requests.get(base + "/static/hummer.css", timeout=60))
    print(f"database stopped: page {page_s:.2f} s, /healthz {health_s:.2f} s, static {static_s:.2f} s")
    assert page.status_code == 503 and "Database unreachable" in page.text and page_s < BOUND
    assert health.status_code == 503 and health.json()["checks"]["database"]["status"] == "down"
    assert health_s < BOUND and static.status_code == 200 and static_s < 2
