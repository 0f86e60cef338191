"""The recorded address is request.remote_addr: forwarded headers count only from the
configured number of proxies (HUMMER_PROXY_COUNT, werkzeug's ProxyFix), and only their hop."""
import pytest

from portal.extensions import db
from portal.models import AuditEvent
from tests.conftest import PASSWORD

SPOOF = {"X-Real-IP": "203.0.113.66", "X-Forwarded-For": "203.0.113.66"}


def recorded(action: str) -> str:
    return db.session.scalar(db.select(AuditEvent.remote_addr).filter_by(action=action))


def test_without_a_proxy_client_headers_do_not_change_the_address(app, web, make_user):
    assert app.config["PROXY_COUNT"] == 0
    make_user("ann")
    response = web.post("/login", {"username": "ann", "password": PASSWORD}, headers=SPOOF)
    assert response.status_code == 302
    web.post("/projects/new", {"name": "spoofed"}, headers=SPOOF)
    assert recorded("user.login") == "127.0.0.1"
    assert recorded("project.create") == "127.0.0.1"


@pytest.mark.parametrize("forwarded, expected", [
    ("198.51.100.7", "198.51.100.7"),
    ("203.0.113.66, 198.51.100.7", "198.51.100.7"),   # what the client claimed stays ignored
])
def test_behind_one_proxy_only_its_hop_counts(app, web, make_user, forwarded, expected):
    app.config["PROXY_COUNT"] = 1
    make_user("ann")
    headers = {"X-Forwarded-For": forwarded, "X-Real-IP": "203.0.113.66"}
    response = web.post("/login", {"username": "ann", "password": PASSWORD}, headers=headers)
    assert response.status_code == 302
    web.post("/projects/new", {"name": "proxied"}, headers=headers)
    assert recorded("user.login") == expected
    assert recorded("project.create") == expected



PROXY = {"REMOTE_ADDR": "10.0.0.2"}   # the proxy's own address, the peer of every request


def test_behind_one_proxy_login_failures_lockout_and_other_events_record_the_client(app, web, make_user):
    """Every event of a request, whether the login form's or any other, records the client
    nginx saw; none records the proxy's address."""
    app.config.update(PROXY_COUNT=1, LOGIN_MAX_FAILURES=2, LOGIN_RATE_LIMIT="")
    make_user("ann")
    make_user("bob")
    client = {"X-Forwarded-For": "203.0.113.66, 198.51.100.7"}
    for _ in range(2):
        response = web.post("/login", {"username": "ann", "password": "wrong"}, headers=client,
                            environ_base=PROXY)
        assert response.status_code == 401
    response = web.post("/login", {"username": "ghost", "password": "wrong"}, headers=client,
                        environ_base=PROXY)
    assert response.status_code == 401
    response = web.post("/login", {"username": "bob", "password": PASSWORD}, headers=client,
                        environ_base=PROXY)
    assert response.status_code == 302
    web.post("/projects/new", {"name": "proxied"}, headers=client, environ_base=PROXY)
    web.post("/logout", headers=client, environ_base=PROXY)
    rows = db.session.execute(db.select(AuditEvent.action, AuditEvent.remote_addr)
                              .order_by(AuditEvent.id)).all()
    assert [action for action, _ in rows] == [
        "user.login_failed", "user.locked", "user.login_failed", "user.login_failed",
        "user.login", "project.create", "user.logout"]
    assert {addr for _, addr in rows} == {"198.51.100.7"}


def test_behind_one_proxy_the_login_limit_counts_per_client(app, web, make_user):
    """The rate limit keys on the same address: two clients behind the one proxy have a
    limit each, and the proxy's address is not one of them."""
    app.config.update(PROXY_COUNT=1, LOGIN_RATE_LIMIT="2 per minute", ANONYMOUS_RATE_LIMIT="")
    make_user("ann")
    first, second = {"X-Forwarded-For": "198.51.100.7"}, {"X-Forwarded-For": "198.51.100.8"}
    for _ in range(2):
        assert web.post("/login", {"username": "ann", "password": "wrong"}, headers=first,
                        environ_base=PROXY).status_code == 401
    assert web.post("/login", {"username": "ann", "password": "wrong"}, headers=first,
                    environ_base=PROXY).status_code == 429
    assert web.post("/login", {"username": "ann", "password": PASSWORD}, headers=second,
                    environ_base=PROXY).status_code == 302
