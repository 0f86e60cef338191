"""Rate limits per client address (Flask-Limiter): the login form, and anonymous requests.

Here in process, with the address set per request; tests/test_auth_live.py floods a real
gunicorn.
"""
import re

import pytest

from portal import config
from portal.extensions import db
from portal.models import AuditEvent
from tests.conftest import PASSWORD
from tests.support.web import Web, text

A, B = {"REMOTE_ADDR": "192.0.2.10"}, {"REMOTE_ADDR": "192.0.2.20"}


def assert_limited(response, what: str):
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= 60
    message = re.search(rf"Too many {what} from your address\. Try again in (\d+) seconds\.",
                        text(response))
    assert message, text(response)[:2000]


def test_login_posts_are_limited_per_address(app, web, make_user):
    app.config.update(LOGIN_RATE_LIMIT="3 per minute", ANONYMOUS_RATE_LIMIT="")
    make_user("ann")
    for _ in range(3):
        assert web.post("/login", {"username": "ann", "password": "wrong"},
                        environ_base=A).status_code == 401
    # The fourth from the same address is refused before any password is checked ...
    assert_limited(web.post("/login", {"username": "ann", "password": PASSWORD}, environ_base=A),
                   "login attempts")
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).filter_by(
        action="user.login_failed")) == 3
    # ... while the login page itself and another address are not.
    assert web.get("/login", environ_base=A).status_code == 200
    assert web.post("/login", {"username": "ann", "password": PASSWORD},
                    environ_base=B).status_code == 302


def test_anonymous_requests_are_limited_but_not_health_static_or_users(app, make_user):
    app.config.update(ANONYMOUS_RATE_LIMIT="4 per minute", LOGIN_RATE_LIMIT="")
    make_user("ann")
    user = Web(app.test_client())
    assert user.post("/login", {"username": "ann", "password": PASSWORD},
                     environ_base=A).status_code == 302  # A's first anonymous request
    anonymous = Web(app.test_client())
    assert anonymous.get("/login", environ_base=A).status_code == 200
    assert anonymous.get("/projects", environ_base=A).status_code == 302
    assert anonymous.get("/", environ_base=A).status_code == 302  # the fourth
    assert_limited(anonymous.get("/login", environ_base=A), "requests")
    assert_limited(anonymous.post("/login", {"username": "ann", "password": PASSWORD},
                                  environ_base=A, csrf=False), "requests")
    # Not limited: the health probe, static files, and the logged-in user at the same address.
    for _ in range(6):
        assert anonymous.get("/healthz", environ_base=A).status_code == 200
        static = anonymous.get("/static/hummer.css", environ_base=A)
        static.close()
        assert static.status_code == 200
        assert user.get("/projects", environ_base=A).status_code == 200
    assert anonymous.get("/login", environ_base=B).status_code == 200


def test_htmx_login_gets_the_limit_message_too(app, web, make_user):
    app.config.update(LOGIN_RATE_LIMIT="1 per minute", ANONYMOUS_RATE_LIMIT="")
    make_user("ann")
    web.post("/login", {"username": "ann", "password": "wrong"}, htmx=True)
    assert_limited(web.post("/login", {"username": "ann", "password": "wrong"}, htmx=True),
                   "login attempts")


def test_password_change_shares_the_login_limit(app, login, make_user):
    make_user("ann")
    web = login("ann")
    app.config.update(LOGIN_RATE_LIMIT="2 per minute", ANONYMOUS_RATE_LIMIT="")
    for _ in range(2):
        assert web.post("/profile/password", {"current_password": "guess", "password": "x" * 12,
                                              "confirm": "x" * 12}).status_code == 422
    assert_limited(web.post("/profile/password", {"current_password": PASSWORD,
                                                  "password": "x" * 12, "confirm": "x" * 12}),
                   "login attempts")


@pytest.mark.parametrize("name", ["HUMMER_LOGIN_RATE_LIMIT", "HUMMER_ANONYMOUS_RATE_LIMIT"])
def test_a_bad_rate_limit_setting_is_refused_at_start(monkeypatch, name):
    monkeypatch.setenv(name, "ten a minute")
    with pytest.raises(SystemExit, match=f"{name} must be a rate limit such as '10 per minute'"):
        config.load()
    monkeypatch.setenv(name, "3 per second; 50 per hour")
    assert config.load()[name.removeprefix("HUMMER_")] == "3 per second; 50 per hour"
