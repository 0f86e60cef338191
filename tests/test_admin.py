"""Administration: users and resource plans."""
import pytest

from portal.extensions import db
from portal.models import AuditEvent, ResourcePlan, User
from tests.conftest import PASSWORD
from tests.support.web import error_beside, text

pytestmark = pytest.mark.reuse_app  # many requests: one app (tests/conftest.py)


@pytest.fixture
def admin(web, login, make_user):
    make_user("root", admin=True)
    return login("root")


def user(name):
    return db.session.scalar(db.select(User).filter_by(username=name))


def test_create_user_then_they_can_log_in(admin, app):
    response = admin.post("/admin/users/new", {"username": "carol", "email": "carol@example.org",
                                               "password": "long-enough-1"})
    assert response.status_code == 302
    assert "carol@example.org" in text(admin.get("/admin/users"))
    client = app.test_client()
    from tests.support.web import Web
    assert Web(client).login("carol", "long-enough-1").status_code == 302


@pytest.mark.parametrize("data, field, message", [
    ({"username": "carol", "password": ""}, "password", "Password is required."),
    ({"username": "carol", "password": "short"}, "password", "Password must be at least 8 characters."),
    ({"username": "", "password": "long-enough-1"}, "username", "Username is required."),
    ({"username": "bad name", "password": "long-enough-1"}, "username", "Use letters, digits"),
    ({"username": "root", "password": "long-enough-1"}, "username", "User 'root' already exists."),
    ({"username": "carol", "password": "long-enough-1", "email": "not-an-email"}, "email",
     "Enter a valid email address."),
])
def test_bad_user_input_is_explained(admin, data, field, message):
    response = admin.post("/admin/users/new", data)
    assert response.status_code == 422
    assert message in error_beside(text(response), field)
    assert user("carol") is None


def test_disable_and_enable_user(admin, app, make_user):
    carol = make_user("carol")
    response = admin.post(f"/admin/users/{carol.id}/disable", htmx=True)
    assert response.status_code == 200 and "disabled" in text(response) and "Enable" in text(response)
    from tests.support.web import Web
    assert Web(app.test_client()).login("carol", PASSWORD).status_code == 401  # as any failed login
    admin.post(f"/admin/users/{carol.id}/enable")
    assert Web(app.test_client()).login("carol", PASSWORD).status_code == 302


def test_admin_cannot_disable_themselves(admin):
    root = user("root")
    response = admin.post(f"/admin/users/{root.id}/disable", htmx=True)
    assert response.status_code == 422 and "cannot disable your own account" in text(response)
    db.session.refresh(root)
    assert root.disabled is False


def test_disabled_user_is_logged_out_of_existing_session(admin, app, make_user, login):
    carol = make_user("carol")
    from tests.support.web import Web
    carol_web = Web(app.test_client())
    carol_web.login("carol", PASSWORD)
    assert carol_web.get("/").status_code == 200
    admin.post(f"/admin/users/{carol.id}/disable")
    assert carol_web.get("/").status_code == 302


def test_reset_password(admin, app, make_user):
    carol = make_user("carol")
    response = admin.post(f"/admin/users/{carol.id}/password", {"password": "short"})
    assert response.status_code == 422
    assert error_beside(text(response), "password") == "Password must be at least 8 characters."
    assert admin.post(f"/admin/users/{carol.id}/password", {"password": "brand-new-pass"}).status_code == 302
    from tests.support.web import Web
    assert Web(app.test_client()).login("carol", "brand-new-pass").status_code == 302
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="user.reset_password")) is not None


def test_unknown_user_is_404(admin):
    assert admin.post("/admin/users/9999/disable").status_code == 404
    assert admin.get("/admin/users/9999/password").status_code == 404


PLAN = {"name": "small", "cpu_request": "250m", "memory_request": "256Mi",
        "cpu_limit": "500m", "memory_limit": "512Mi"}


def test_create_edit_delete_plan(admin):
    assert admin.post("/admin/plans/new", dict(PLAN, is_default="y")).status_code == 302
    page = text(admin.get("/admin/plans"))
    assert "250m / 500m" in page and "256Mi / 512Mi" in page
    plan = db.session.scalar(db.select(ResourcePlan))
    assert plan.is_default
    assert admin.post("/admin/plans/new", dict(PLAN, name="big", cpu_request="1", cpu_limit="2",
                                               is_default="y")).status_code == 302
    db.session.refresh(plan)
    assert not plan.is_default, "only one default plan"
    assert admin.post(f"/admin/plans/{plan.id}/edit", dict(PLAN, cpu_request="100m")).status_code == 302
    db.session.refresh(plan)
    assert plan.cpu_request == "100m"
    assert admin.post(f"/admin/plans/{plan.id}/delete", htmx=True).get_data() == b""
    assert db.session.scalar(db.select(db.func.count(ResourcePlan.id))) == 1


@pytest.mark.parametrize("field, value, message", [
    ("cpu_request", "lots", "'lots' is not a Kubernetes quantity; try 250m or 0.5."),
    ("memory_request", "12 GB", "'12 GB' is not a Kubernetes quantity; try 256Mi or 1Gi."),
    ("memory_limit", "", "Enter a memory quantity such as 256Mi or 1Gi."),
    ("cpu_limit", "0", "The cpu quantity must be greater than zero."),
    ("cpu_limit", "100m", "The cpu limit must not be below the request."),
    ("name", "Small Plan", "DNS-1123 label"),
])
def test_bad_plan_input_is_explained(admin, field, value, message):
    response = admin.post("/admin/plans/new", dict(PLAN, **{field: value}))
    assert response.status_code == 422
    assert message in error_beside(text(response), field)
    assert db.session.scalar(db.select(db.func.count(ResourcePlan.id))) == 0


def test_duplicate_plan_name(admin):
    admin.post("/admin/plans/new", PLAN)
    response = admin.post("/admin/plans/new", PLAN)
    assert error_beside(text(response), "name") == "A plan named 'small' already exists."


def test_global_audit_log(admin, make_user):
    carol = make_user("carol")
    admin.post(f"/admin/users/{carol.id}/disable")
    admin.post("/admin/plans/new", PLAN)
    page = text(admin.get("/admin/audit"))
    assert "user.disable" in page and "plan.create" in page
    assert "plan.create" not in text(admin.get("/admin/audit?q=user.disable", htmx=True))
