"""Sessions end for real: a copied session or "keep me logged in" cookie is worthless after a
logout, a password change or reset, a disabled account, or "log out everywhere".
And the profile page, where users change their own password.
"""
import pytest

from portal.extensions import db
from portal.models import AuditEvent, User
from tests.conftest import PASSWORD
from tests.support.web import Web, error_beside, text

pytestmark = pytest.mark.reuse_app  # many requests: one app (tests/conftest.py)

NEW_PASSWORD = "brand-new-pass-1"


def remembered_login(app, username: str) -> tuple[Web, dict[str, str]]:
    """Log in with "Keep me logged in"; return the browser and copies of its two cookies."""
    web = Web(app.test_client())
    response = web.post("/login", {"username": username, "password": PASSWORD, "remember": "y"})
    assert response.status_code == 302, text(response)[:300]
    assert web.get("/").status_code == 200
    cookies = {name: web.client.get_cookie(name).value for name in ("session", "remember_token")}
    return web, cookies


def with_cookie(app, name: str, value: str) -> Web:
    """Another browser that has only the copied cookie."""
    web = Web(app.test_client())
    web.client.set_cookie(name, value)
    return web


def logged_in(web: Web) -> bool:
    response = web.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def by_logout(app, web):
    assert web.logout().status_code == 302


def by_logout_everywhere(app, web):
    response = web.post("/profile/logout-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def by_password_change(app, web):
    response = web.post("/profile/password", {"current_password": PASSWORD,
                                              "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302, text(response)[:500]
    assert logged_in(web), "the browser that changed the password stays logged in"


def by_admin_reset(app, web):
    admin = Web(app.test_client())
    assert admin.login("root", PASSWORD).status_code == 302
    ann = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert admin.post(f"/admin/users/{ann.id}/password", {"password": NEW_PASSWORD}).status_code == 302


def by_disable_then_enable(app, web):
    admin = Web(app.test_client())
    assert admin.login("root", PASSWORD).status_code == 302
    ann = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert admin.post(f"/admin/users/{ann.id}/disable").status_code == 302
    assert not logged_in(web)
    # Enabling the account again does not bring the old sessions back.
    assert admin.post(f"/admin/users/{ann.id}/enable").status_code == 302


EVENTS = [by_logout, by_logout_everywhere, by_password_change, by_admin_reset, by_disable_then_enable]


@pytest.mark.parametrize("cookie", ["session", "remember_token"])
@pytest.mark.parametrize("event", EVENTS, ids=lambda f: f.__name__)
def test_a_copied_cookie_stops_working(app, make_user, event, cookie):
    make_user("ann")
    make_user("root", admin=True)
    web, cookies = remembered_login(app, "ann")
    # Before: the copy alone logs in, as the original does (so the test can fail).
    assert logged_in(with_cookie(app, cookie, cookies[cookie]))
    event(app, web)
    assert not logged_in(with_cookie(app, cookie, cookies[cookie]))


def test_each_login_after_a_logout_gets_a_new_remember_cookie(app, make_user):
    make_user("ann")
    web, first = remembered_login(app, "ann")
    web.logout()
    _, second = remembered_login(app, "ann")
    assert first["remember_token"] != second["remember_token"]


def test_logout_ends_the_other_devices_too(app, make_user):
    make_user("ann")
    laptop, _ = remembered_login(app, "ann")
    phone, _ = remembered_login(app, "ann")
    assert logged_in(phone)
    laptop.logout()
    assert not logged_in(phone)


def test_old_style_session_ids_log_nobody_in(app, make_user):
    """Cookies made before the generation existed held the bare id: they are refused."""
    ann = make_user("ann")
    web = Web(app.test_client())
    with web.client.session_transaction() as session:
        session["_user_id"] = str(ann.id)
        session["_fresh"] = True
    assert not logged_in(web)


# The profile page -------------------------------------------------------------

def test_profile_is_linked_from_the_navigation(login, make_user):
    make_user("ann")
    web = login("ann")
    assert 'href="/profile"' in text(web.get("/"))
    html = text(web.get("/profile"))
    assert "Change your password" in html and "Log out everywhere" in html


@pytest.mark.parametrize("form, field, message", [
    ({"current_password": "not-it-at-all", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "current_password", "That is not your current password."),
    ({"current_password": "", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
     "current_password", "Enter your current password."),
    ({"current_password": PASSWORD, "password": "short", "confirm": "short"},
     "password", "Password must be at least 8 characters."),
    ({"current_password": PASSWORD, "password": "", "confirm": ""},
     "password", "Password is required."),
    ({"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"},
     "confirm", "The two new passwords differ."),
], ids=["wrong-current", "no-current", "too-short", "empty", "mismatch"])
def test_change_password_refuses_bad_input_beside_the_field(login, make_user, form, field, message):
    make_user("ann")
    web = login("ann")
    response = web.post("/profile/password", form)
    assert response.status_code == 422
    assert error_beside(text(response), field) == message
    user = db.session.scalar(db.select(User).filter_by(username="ann"))
    assert user.check_password(PASSWORD) and not user.check_password(NEW_PASSWORD)
    assert logged_in(web)


def test_change_password_then_log_in_with_the_new_one(app, login, make_user):
    make_user("ann")
    web = login("ann")
    response = web.post("/profile/password", {"current_password": PASSWORD,
                                              "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    assert "Your password is changed" in text(web.get("/profile"))
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="user.change_password"))
    assert event.actor_name == "ann"
    other = Web(app.test_client())
    assert other.login("ann", PASSWORD).status_code == 401
    assert other.login("ann", NEW_PASSWORD).status_code == 302


def test_logout_everywhere_is_audited_and_ends_this_session(login, make_user):
    make_user("ann")
    web = login("ann")
    web.post("/profile/logout-everywhere")
    assert not logged_in(web)
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="user.logout_everywhere")) is not None
    assert "You are logged out everywhere" in text(web.get("/login"))
