"""Personal access tokens: made on the profile page (the secret shown once, only its hash
kept), limited by scope, role ceiling and expiry, revoked by their owner, an admin, a
password change or a disabled account; the audit names the token."""
import hashlib
from datetime import date, timedelta

import pytest

from portal.extensions import db
from portal.models import ApiToken, AuditEvent
from tests.api.conftest import bearer
from tests.conftest import PASSWORD
from tests.support import html
from tests.support.web import error_beside, text

pytestmark = pytest.mark.reuse_app


def _form(**over):
    data = {"name": "ci-deploy", "expires": (date.today() + timedelta(days=30)).isoformat(),
            "ceiling": "developer", "scope": "all"}
    data.update(over)
    return data


def test_the_secret_is_shown_once_and_only_its_hash_is_kept(web, login, team, client):
    login("dev")
    response = web.post("/profile/tokens", _form())
    assert response.status_code == 200, text(response)[:500]
    secret = html.find(text(response), "code", id="new-token-secret").text
    assert secret.startswith("hmr_") and len(secret) == 47
    token = db.session.scalar(db.select(ApiToken))
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr([getattr(token, c.key) for c in ApiToken.__table__.columns])
    again = web.get("/profile")
    assert secret not in text(again)  # never shown again
    row = html.find(text(again), "tr", id=f"token-{token.id}")
    assert "ci-deploy" in row.text and "never" in row.text
    # it works, and the list then says when it was last used
    assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 200
    assert "never" not in html.find(text(web.get("/profile")), "tr", id=f"token-{token.id}").text


@pytest.mark.parametrize("over, field, words", [
    ({"name": ""}, "name", "Give the token a name"),
    ({"name": "has space"}, "name", "letters, digits"),
    ({"expires": ""}, "expires", "Choose when the token expires"),
    ({"expires": (date.today() + timedelta(days=400)).isoformat()}, "expires", "at most a year"),
    ({"expires": (date.today() - timedelta(days=1)).isoformat()}, "expires", "in the future"),
    ({"ceiling": "owner"}, "ceiling", "Not a valid choice"),
    ({"scope": "chosen"}, "projects", "Choose at least one project"),
    ({"scope": "chosen", "projects": "nowhere"}, "projects", "not a member"),
])
def test_a_wrong_field_says_why_beside_it(web, login, team, over, field, words):
    login("dev")
    response = web.post("/profile/tokens", _form(**over))
    assert response.status_code == 422
    assert words.lower() in error_beside(text(response), field).lower()
    assert db.session.scalar(db.select(ApiToken)) is None


def test_the_role_ceiling_is_never_above_the_users_own_role(web, login, team):
    login("vic")  # a viewer of alpha
    response = web.post("/profile/tokens", _form(ceiling="developer", scope="chosen", projects="alpha"))
    assert response.status_code == 422
    assert "viewer" in error_beside(text(response), "ceiling")
    assert web.post("/profile/tokens", _form(ceiling="viewer", scope="chosen",
                                             projects="alpha")).status_code == 200


def test_the_owner_revokes_and_the_next_call_is_401(web, login, team, make_token, client):
    project, people = team
    secret = make_token(people["dev"], name="ci")
    token = db.session.scalar(db.select(ApiToken))
    login("dev")
    assert web.post(f"/profile/tokens/{token.id}/revoke", {}).status_code == 302
    assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="token.revoke")).object_name == "ci"


def test_someone_elses_token_is_not_found_but_an_admin_revokes_it(web, login, team, make_token, client):
    project, people = team
    secret = make_token(people["dev"], name="ci")
    token_id = db.session.scalar(db.select(ApiToken.id))
    login("vic")
    assert web.post(f"/profile/tokens/{token_id}/revoke", {}).status_code == 404
    web.post("/logout", {})
    login("root")
    listing = text(web.get("/admin/tokens"))
    assert "dev" in html.find(listing, "tr", id=f"token-{token_id}").text
    assert web.post(f"/admin/tokens/{token_id}/revoke", {}).status_code == 302
    assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401


def test_a_password_change_revokes_every_token(web, login, team, make_token, client):
    project, people = team
    secrets = [make_token(people["dev"]), make_token(people["dev"])]
    login("dev")
    response = web.post("/profile/password", {"current_password": PASSWORD, "password": "brand-new-pass-1",
                                              "confirm": "brand-new-pass-1"})
    assert response.status_code == 302
    for secret in secrets:
        assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401
    assert db.session.scalar(db.select(ApiToken)) is None


def test_disabling_the_user_revokes_their_tokens(web, login, team, make_token, client):
    project, people = team
    secret = make_token(people["dev"])
    login("root")
    assert web.post(f"/admin/users/{people['dev'].id}/disable", {}).status_code == 302
    assert client.get("/api/v1/projects", headers=bearer(secret)).status_code == 401
    db.session.expire_all()
    assert db.session.scalar(db.select(ApiToken)) is None


def test_an_expired_token_is_refused(team, make_token, client):
    project, people = team
    secret = make_token(people["dev"])
    token = db.session.scalar(db.select(ApiToken))
    token.expires_at = token.created_at - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/projects", headers=bearer(secret))
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_session_cookie_does_not_authenticate_the_api(web, login, team):
    login("dev")
    response = web.get("/api/v1/projects")
    assert response.status_code == 401


def test_the_audit_says_who_via_which_token(web, login, team, make_token, client):
    project, people = team
    secret = make_token(people["dev"], name="ci-deploy")
    response = client.post("/api/v1/projects/alpha/apps", headers=bearer(secret), json={"name": "web"})
    assert response.status_code == 422  # the body is wrong: no image; the audit has nothing yet
    from portal.services import audit
    from portal.services.context import Actor
    token = db.session.scalar(db.select(ApiToken))
    audit.record(Actor(people["dev"], "192.0.2.1", token), "app.scale", "app", "web", project=project)
    db.session.commit()
    login("olivia")
    page = text(web.get("/projects/alpha/audit"))
    assert "dev via token ci-deploy" in page
