"""Login, logout, throttling, cookies, CSRF."""
import pytest

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.conftest import PASSWORD
from tests.support.web import error_beside, text


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


def test_login_redirects_only_to_local_paths(web, make_user):
    make_user("ann")
    response = web.post("/login?next=https://evil.example/x", {"username": "ann", "password": PASSWORD})
    assert response.headers["Location"] == "/"
    web.logout()
    response = web.post("/login?next=/projects", {"username": "ann", "password": PASSWORD})
    assert response.headers["Location"] == "/projects"


def test_wrong_password_message_beside_field(web, make_user):
    make_user("ann")
    response = web.login("ann", "nope")
    assert response.status_code == 401
    assert error_beside(text(response), "password") == "Wrong username or password."


def test_unknown_user_gets_the_same_message(web):
    response = web.login("ghost", "whatever")
    assert response.status_code == 401
    assert error_beside(text(response), "password") == "Wrong username or password."


def test_empty_fields_are_explained(web):
    response = web.post("/login", {"username": "", "password": ""})
    assert response.status_code == 422
    html = text(response)
    assert error_beside(html, "username") == "Enter your username."
    assert error_beside(html, "password") == "Enter your password."


def test_disabled_user_cannot_log_in(web, make_user):
    make_user("ann", disabled=True)
    response = web.login("ann", PASSWORD)
    assert response.status_code == 403
    assert "disabled" in error_beside(text(response), "username")


def test_repeated_failures_are_throttled(app, web, make_user):
    make_user("ann")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert web.login("ann", "wrong").status_code == 401
    # Locked now: even the right password is refused, with a clear wait time.
    response = web.login("ann", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins. Try again in" in error_beside(text(response), "password")
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert user.failed_logins == limit and user.locked_until is not None
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="user.locked")) is not None


def test_lockout_ends_and_success_resets_counter(app, web, make_user):
    make_user("ann")
    app.config["LOGIN_LOCKOUT_SECONDS"] = 0
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        web.login("ann", "wrong")
    assert web.login("ann", PASSWORD).status_code == 302
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    db.session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


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
