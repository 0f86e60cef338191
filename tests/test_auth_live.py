"""Races and floods against a real gunicorn (several workers and threads) on the test's database.

- 60 parallel logins to one account check at most LOGIN_MAX_FAILURES passwords, and the
  right password sent afterwards does not log in while the account is locked.
- 16 anonymous clients flooding /login are cut off by the per-address limits, while a
  logged-in user, /healthz and static files are never limited.
"""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.conftest import PASSWORD
from tests.support.html import find
from tests.support.live_portal import live_portal
from tests.support.web import error_beside


@pytest.fixture
def password_hash(production_password_hash):
    """Logins here are timed and raced: the users get the production hash (scrypt)."""
    return production_password_hash


LOGIN_FAILED = "Wrong username or password, or the account is locked or disabled."


def failed_logins(name: str, why: str) -> int:
    db.session.rollback()  # see what the portal processes committed
    return db.session.scalar(db.select(db.func.count(AuditEvent.id)).filter_by(
        action="user.login_failed", object_name=name, detail=why))


def test_parallel_logins_check_at_most_the_limit(app, database_url, tmp_path, make_user):
    make_user("ann")
    limit, attempts = 5, 60
    with live_portal(database_url, tmp_path, workers=2, threads=8, LOGIN_MAX_FAILURES=limit,
                     LOGIN_LOCKOUT_SECONDS=600, LOGIN_RATE_LIMIT="",
                     ANONYMOUS_RATE_LIMIT="") as portal:
        clients = [portal.client() for _ in range(attempts)]
        with ThreadPoolExecutor(16) as pool:
            tokens = list(pool.map(lambda c: c.token(), clients))
        start = threading.Barrier(attempts)

        def guess(i: int):
            start.wait(60)  # every guess leaves at once
            response = clients[i].login("ann", f"wrong-guess-{i}", tokens[i])
            return response.status_code, error_beside(response.text, "password")

        with ThreadPoolExecutor(attempts) as pool:
            answers = list(pool.map(guess, range(attempts)))
        assert answers == [(401, LOGIN_FAILED)] * attempts

        assert failed_logins("ann", "wrong password") == limit
        assert failed_logins("ann", "account locked") == attempts - limit
        ann = db.session.scalar(db.select(User).filter_by(username="ann"))
        assert ann.failed_logins == limit and ann.locked_until is not None

        # The right password, sent late, does not log in while the account is locked.
        late = portal.client()
        response = late.login("ann", PASSWORD)
        assert (response.status_code, error_beside(response.text, "password")) == (401, LOGIN_FAILED)
        assert late.get("/").status_code == 302
        assert failed_logins("ann", "wrong password") == limit


def test_anonymous_flood_is_cut_off_and_users_are_not_limited(app, database_url, tmp_path, make_user):
    make_user("ann")
    make_user("bob")
    login_limit, anonymous_limit = 5, 40
    # Per hour, so that no window ends during the test; one worker holds the counters
    # (memory storage counts per process).
    with live_portal(database_url, tmp_path, workers=1, threads=8,
                     LOGIN_RATE_LIMIT=f"{login_limit} per hour",
                     ANONYMOUS_RATE_LIMIT=f"{anonymous_limit} per hour") as portal:
        user = portal.client()
        assert user.login("ann", PASSWORD).status_code == 302  # 2 anonymous requests, 1 login
        assert user.get("/projects").status_code == 200
        flooding = threading.Event()
        flooding.set()

        def flood(i: int) -> list[tuple[str, int, str, str]]:
            client, seen = portal.client(), []
            for _ in range(15):
                page = client.get("/login")
                seen.append(("GET", page.status_code, page.headers.get("Retry-After", ""), page.text))
                token = find(page.text, "input", name="csrf_token")
                response = client.post("/login", {"username": "bob", "password": f"guess-{i}",
                                                  "csrf_token": token.get("value", "") if token else ""})
                seen.append(("POST", response.status_code, response.headers.get("Retry-After", ""),
                             response.text))
            return seen

        def browse() -> list[int]:
            statuses = []
            while flooding.is_set() and len(statuses) < 300:
                statuses.append(user.get("/projects").status_code)
                statuses.append(portal.client().get("/healthz").status_code)
                css = portal.client().get("/static/hummer.css")
                statuses.append(css.status_code)
            return statuses

        with ThreadPoolExecutor(17) as pool:
            browsing = pool.submit(browse)
            floods = list(pool.map(flood, range(16)))
            flooding.clear()
            statuses = browsing.result()

    seen = [answer for client in floods for answer in client]
    posts = [a for a in seen if a[0] == "POST"]
    passed = [a for a in seen if a[1] != 429]
    # Every anonymous request counted: at most the limit got through, the rest were 429.
    assert len(passed) <= anonymous_limit - 2, [a[:2] for a in passed]
    assert len([a for a in posts if a[1] != 429]) <= login_limit - 1
    assert failed_logins("bob", "wrong password") <= login_limit - 1
    refused = [a for a in seen if a[1] == 429]
    assert len(refused) == len(seen) - len(passed) >= 16 * 30 - anonymous_limit
    for _, _, retry_after, body in refused:
        assert int(retry_after) > 0
        assert re.search(r"Too many (requests|login attempts) from your address\. "
                         r"Try again in \d+ seconds\.", body), body[:1000]
    # The logged-in user, the health probe and static files went on being served.
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
