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

