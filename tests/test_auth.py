"""Login, logout, lockout, one answer for every failed login, next=, cookies, CSRF."""
import time
from urllib.parse import quote

import pytest

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.conftest import PASSWORD
from tests.support.web import error_beside, text

pytestmark = pytest.mark.reuse_app  # many requests: one app (tests/conftest.py)


@pytest.fixture
def password_hash(production_password_hash):
    """Logins here are timed and raced: the users get the production hash (scrypt)."""
    return production_password_hash


def test_login_page_is_served(web):
    response = web.get("/login")
    assert response.status_code == 200
    assert "Log in to Hummer" in text(response)


def test_anonymous_is_sent_to_login_with_next(web):
    response = web.get("/projects")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_then_dashboard_then_logout(web, make_user):
    make_user("ann")
    response = web.login("ann", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Dashboard" in text(web.get("/"))
    assert web.logout().status_code == 302
    assert web.get("/").status_code == 302


LOGIN_FAILED = "Wrong username or password, or the account is locked or disabled."

REFUSED_NEXT = [
    "https://evil.example/x", "http:/evil.example", "//evil.example", "///evil.example",
    "/\\evil.example", "\\\\evil.example", "/\\/evil.example", "\\/evil.example",
    "/\r\nSet-Cookie: x=1", "/projects\r\nLocation: https://evil.example", "/\t/evil.example",
    " /projects", "/projects ", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x",
    "projects", "evil.example", "/projects\x00", "/\u2028/evil.example", "/" + "a" * 3000,
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("target", REFUSED_NEXT)
def test_login_refuses_next_that_is_not_a_plain_local_path(web, make_user, target, htmx):
    make_user("ann")
    response = web.post(f"/login?next={quote(target, safe='')}",
                        {"username": "ann", "password": PASSWORD}, htmx=htmx)
    if htmx:
        assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"
    else:
        assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("target", ["/projects", "/projects/alpha/members?q=a&page=2", "/"])
def test_login_goes_on_to_a_plain_local_next(web, make_user, target, htmx):
    make_user("ann")
    response = web.post(f"/login?next={quote(target, safe='')}",
                        {"username": "ann", "password": PASSWORD}, htmx=htmx)
    assert response.headers["HX-Redirect" if htmx else "Location"] == target


def test_wrong_password_message_beside_field(web, make_user):
    make_user("ann")
    response = web.login("ann", "nope")
    assert response.status_code == 401
    assert error_beside(text(response), "password") == LOGIN_FAILED


def test_empty_fields_are_explained(web):
    response = web.post("/login", {"username": "", "password": ""})
    assert response.status_code == 422
    html = text(response)
    assert error_beside(html, "username") == "Enter your username."
    assert error_beside(html, "password") == "Enter your password."


def _answer(response) -> tuple[int, str, str]:
    html = text(response)
    return response.status_code, error_beside(html, "username"), error_beside(html, "password")


def test_every_failed_login_gets_one_answer(app, web, make_user):
    """Unknown, wrong password, disabled, locked: nothing tells whether the account exists."""
    app.config["LOGIN_RATE_LIMIT"] = ""  # the per-address limit has tests of its own
    make_user("ann")
    make_user("sleeper", disabled=True)
    make_user("locked")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        web.login("locked", "wrong")
    same = (401, "", LOGIN_FAILED)
    assert _answer(web.login("ann", "wrong")) == same
    assert _answer(web.login("sleeper", PASSWORD)) == same
    assert _answer(web.login("locked", PASSWORD)) == same
    # An unknown name never gets a lockout message either, however often it is tried.
    for _ in range(limit + 2):
        assert _answer(web.login("ghost", "whatever")) == same
    assert web.get("/").status_code == 302


def test_unknown_and_known_names_cost_the_same(app, web, make_user):
    """An unknown name is checked against a dummy hash: the answer takes as long."""
    app.config["LOGIN_RATE_LIMIT"] = ""
    make_user("ann")

    def median_seconds(username):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            assert web.login(username, "wrong-password").status_code == 401
            times.append(time.perf_counter() - started)
        return sorted(times)[2]
    known, unknown = median_seconds("ann"), median_seconds("ghost")
    assert unknown > 0.3 * known, (known, unknown)


def test_repeated_failures_lock_the_account(app, web, make_user):
    make_user("ann")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert web.login("ann", "wrong").status_code == 401
    # Locked now: even the right password is refused, and it is not even checked.
    response = web.login("ann", PASSWORD)
    assert _answer(response) == (401, "", LOGIN_FAILED)
    assert web.get("/").status_code == 302
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert user.failed_logins == limit and user.locked_until is not None
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="user.locked")) is not None
    details = db.session.scalars(db.select(AuditEvent.detail).filter_by(
        action="user.login_failed", object_name="ann").order_by(AuditEvent.id)).all()
    assert details == ["wrong password"] * limit + ["account locked"]


def test_lockout_ends_and_success_resets_counter(app, web, make_user):
    make_user("ann")
    app.config["LOGIN_LOCKOUT_SECONDS"] = 0
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        web.login("ann", "wrong")
    assert web.login("ann", PASSWORD).status_code == 302
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_the_right_password_at_the_last_try_logs_in_and_locks_nothing(app, web, make_user):
    make_user("ann")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert web.login("ann", "wrong").status_code == 401
    assert web.login("ann", PASSWORD).status_code == 302
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert user.failed_logins == 0 and user.locked_until is None
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="user.locked")) is None


def test_failed_logins_and_logouts_are_audited_without_the_password(web, make_user):
    make_user("ann")
    web.post("/login", {"username": "ann", "password": "secret-guess-1"},
             environ_base={"REMOTE_ADDR": "192.0.2.7"})
    web.post("/login", {"username": "ghost", "password": "secret-guess-2"},
             environ_base={"REMOTE_ADDR": "192.0.2.8"})
    web.login("ann", PASSWORD)
    web.logout()
    events = db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)).all()
    rows = [(e.action, e.actor_name, e.object_name, e.remote_addr, e.detail) for e in events]
    assert rows[:2] == [("user.login_failed", "anonymous", "ann", "192.0.2.7", "wrong password"),
                        ("user.login_failed", "anonymous", "ghost", "192.0.2.8", "no such user")]
    assert [r[:2] for r in rows[2:]] == [("user.login", "ann"), ("user.logout", "ann")]
    everything = " ".join(str(v) for r in rows for v in r)
    assert "secret-guess" not in everything


def test_login_rotates_the_csrf_token(web, make_user, team):
    before = web.token()
    assert web.login("olivia", PASSWORD).status_code == 302
    after = web.token()
    assert after != before
    # The token from before the login is no good in the logged-in session.
    response = web.post("/projects/alpha/settings", {"display_name": "A", "csrf_token": before})
    assert response.status_code == 400 and "CSRF" in text(response)
    response = web.post("/projects/alpha/settings", {"display_name": "A", "csrf_token": after})
    assert response.status_code == 302


def test_post_without_csrf_token_is_refused(web, make_user):
    make_user("ann")
    response = web.post("/login", {"username": "ann", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in text(response)


def test_htmx_post_with_csrf_header_is_accepted(web, login, team):
    login("olivia")
    response = web.post("/projects/alpha/settings", {"display_name": "A"}, csrf=False,
                        headers={"HX-Request": "true", "X-CSRFToken": web.token()})
    assert response.status_code == 200 and response.headers["HX-Location"] == "/projects/alpha"
    response = web.post("/projects/alpha/settings", {"display_name": "B"}, csrf=False,
                        headers={"HX-Request": "true", "X-CSRFToken": "forged"})
    assert response.status_code == 400


def test_session_cookie_is_httponly_and_samesite(web, make_user):
    make_user("ann")
    response = web.login("ann", PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_passwords_are_stored_hashed(app, web, login, make_user):
    make_user("root", admin=True)
    login("root")
    web.post("/admin/users/new", {"username": "newbie", "password": "s3cret-pass"})
    user = db.session.scalar(db.select(User).filter_by(username="newbie"))
    assert "s3cret-pass" not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert user.check_password("s3cret-pass")


def test_login_is_audited_with_address(web, make_user):
    make_user("ann")
    web.post("/login", {"username": "ann", "password": PASSWORD},
             environ_base={"REMOTE_ADDR": "192.0.2.7"})
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="user.login"))
    assert event.actor_name == "ann" and event.remote_addr == "192.0.2.7"


@pytest.mark.parametrize("path", ["/login", "/projects"])
def test_pages_vary_on_htmx_header(web, login, team, path):
    if path != "/login":
        login("olivia")
    assert "HX-Request" in web.get(path).headers.get("Vary", "")
