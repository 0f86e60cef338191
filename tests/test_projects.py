"""Projects: create, list with search and pagination, detail, rename, delete; members; audit."""
import pytest

from portal.extensions import db
from portal.models import AuditEvent, Membership, Project, Role
from tests.support.html import field_value
from tests.support.web import error_beside, text

pytestmark = pytest.mark.reuse_app  # many requests: one app (tests/conftest.py)


def project(name):
    return db.session.scalar(db.select(Project).filter_by(name=name))


def test_create_project_makes_creator_owner(web, login, make_user):
    make_user("ann")
    login("ann")
    response = web.post("/projects/new", {"name": "shop", "display_name": "The Shop", "description": "Web shop"})
    assert response.status_code == 302 and response.headers["Location"] == "/projects/shop"
    page = text(web.get("/projects/shop"))
    assert "The Shop" in page and "Project <code>shop</code>" in page and "Project shop created." in page
    member = db.session.scalar(db.select(Membership).join(Project).filter(Project.name == "shop"))
    assert member.user.username == "ann" and member.role == "owner"
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="project.create"))
    assert event.object_name == "shop" and event.actor_name == "ann"


@pytest.mark.parametrize("name, message", [
    ("", "Project name is required."),
    ("Shop", "DNS-1123 label"),
    ("-shop", "DNS-1123 label"),
    ("shop_1", "DNS-1123 label"),
    ("a" * 64, "at most 63 characters"),
    ("kube-system", "reserved by Kubernetes"),
    ("default", "reserved by Kubernetes"),
])
def test_invalid_project_name_is_explained_beside_field(web, login, make_user, name, message):
    make_user("ann")
    login("ann")
    response = web.post("/projects/new", {"name": name})
    assert response.status_code == 422
    assert message in error_beside(text(response), "name")
    assert db.session.scalar(db.select(db.func.count(Project.id))) == 0


def test_duplicate_project_name_is_explained(web, login, make_user, make_project):
    other = make_user("bob")
    make_project("shop", {other: Role.OWNER})
    make_user("ann")
    login("ann")
    response = web.post("/projects/new", {"name": "shop"})
    assert response.status_code == 422
    assert error_beside(text(response), "name") == "A project named 'shop' already exists."


def test_htmx_create_error_returns_only_the_form(web, login, make_user):
    make_user("ann")
    login("ann")
    response = web.post("/projects/new", {"name": "Bad Name"}, htmx=True)
    html = text(response)
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="project-form"') and "<html" not in html
    assert "DNS-1123" in error_beside(html, "name")


def test_htmx_create_success_moves_the_page(web, login, make_user):
    make_user("ann")
    login("ann")
    response = web.post("/projects/new", {"name": "shop"}, htmx=True)
    assert response.headers["HX-Location"] == "/projects/shop"


def test_list_shows_only_my_projects_admin_sees_all(web, login, make_user, make_project):
    ann, bob = make_user("ann"), make_user("bob")
    make_user("root", admin=True)
    make_project("anns", {ann: Role.VIEWER})
    make_project("bobs", {bob: Role.OWNER})
    login("ann")
    page = text(web.get("/projects"))
    assert "anns" in page and "bobs" not in page
    web.logout()
    login("root")
    page = text(web.get("/projects"))
    assert "anns" in page and "bobs" in page


def test_active_search_returns_rows_fragment_and_full_page_on_reload(web, login, make_user, make_project):
    ann = make_user("ann")
    for name in ("payments", "payroll", "search"):
        make_project(name, {ann: Role.OWNER})
    login("ann")
    fragment = web.get("/projects?q=pay", htmx=True)
    html = text(fragment)
    assert "<html" not in html and "payments" in html and "payroll" in html and ">search<" not in html
    assert fragment.headers["Vary"] == "HX-Request" or "HX-Request" in fragment.headers["Vary"]
    full = text(web.get("/projects?q=pay"))  # the URL htmx pushed, loaded directly
    assert full.startswith("<!doctype html>") and "payroll" in full and field_value(full, "q") == "pay"
    boosted = text(web.get("/projects?q=pay", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert boosted.startswith("<!doctype html>")
    assert "No project matches “zzz”." in text(web.get("/projects?q=zzz", htmx=True))


def test_pagination_is_server_side(app, web, login, make_user, make_project):
    app.config["PAGE_SIZE"] = 3
    ann = make_user("ann")
    for i in range(7):
        make_project(f"p{i}", {ann: Role.OWNER})
    login("ann")
    first, third = text(web.get("/projects")), text(web.get("/projects?page=3"))
    link = 'href="/projects/{}"'.format  # not a bare "p0": a random CSRF token may hold that
    assert link("p0") in first and link("p3") not in first and "Page 1 of 3 (7)" in first
    assert link("p6") in third and link("p0") not in third and "Next" not in third
    assert "Page 1 of 3" in text(web.get("/projects?page=banana"))


def test_rename_changes_display_name_not_namespace(web, login, team):
    login("olivia")
    response = web.post("/projects/alpha/settings", {"display_name": "Alpha Team", "description": "x"})
    assert response.status_code == 302
    p = project("alpha")
    assert p.display_name == "Alpha Team" and p.name == "alpha"
    response = web.post("/projects/alpha/settings", {"display_name": "  "})
    assert response.status_code == 422
    assert error_beside(text(response), "display_name") == "Display name is required."


def test_delete_needs_the_typed_name(web, login, team):
    login("olivia")
    assert "Type <code>alpha</code> to confirm" in text(web.get("/projects/alpha/delete"))
    response = web.post("/projects/alpha/delete", {"confirm": "alpah"})
    assert response.status_code == 422
    assert error_beside(text(response), "confirm") == "Type the project name 'alpha' to confirm."
    assert project("alpha") is not None
    assert web.post("/projects/alpha/delete", {"confirm": "alpha"}).status_code == 302
    assert project("alpha") is None
    assert db.session.scalar(db.select(db.func.count(Membership.id))) == 0
    # the audit trail outlives the project
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="project.delete")).project_name == "alpha"


def test_stranger_gets_404_not_403(web, login, team):
    login("stranger")
    for url in ("/projects/alpha", "/projects/alpha/members", "/projects/nonexistent"):
        response = web.get(url)
        assert response.status_code == 404
        assert "No such project." in text(response)


# Members ---------------------------------------------------------------------

def test_add_member_with_htmx_returns_the_members_section(web, login, team):
    login("olivia")
    response = web.post("/projects/alpha/members", {"username": "stranger", "role": "viewer"}, htmx=True)
    html = text(response)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="members">')
    assert "stranger" in html and "stranger added as viewer." in html and 'hx-swap-oob="true"' in html


@pytest.mark.parametrize("data, field, message", [
    ({"username": "nobody", "role": "viewer"}, "username", "No user named 'nobody'."),
    ({"username": "vic", "role": "viewer"}, "username", "vic is already a member (viewer)."),
    ({"username": "stranger", "role": "emperor"}, "role", "Choose a role: viewer, developer, owner."),
    ({"username": "", "role": "viewer"}, "username", "Enter a username."),
])
def test_bad_member_input_is_explained(web, login, team, data, field, message):
    login("olivia")
    response = web.post("/projects/alpha/members", data)
    assert response.status_code == 422
    assert error_beside(text(response), field) == message


def test_change_role_inline_and_last_owner_is_kept(web, login, team):
    project_, people = team
    login("olivia")
    ids = {m.user.username: m.id for m in project_.memberships}
    response = web.post(f"/projects/alpha/members/{ids['vic']}/role", {"role": "developer"}, htmx=True)
    assert response.status_code == 200 and text(response).lstrip().startswith(f'<tr id="member-{ids["vic"]}"')
    assert field_value(text(response), "role") == "developer"
    response = web.post(f"/projects/alpha/members/{ids['olivia']}/role", {"role": "viewer"}, htmx=True)
    assert response.status_code == 422
    assert "at least one owner" in text(response)
    db.session.expire_all()
    assert db.session.get(Membership, ids["olivia"]).role == "owner"
    response = web.post(f"/projects/alpha/members/{ids['vic']}/role", {"role": "tsar"}, htmx=True)
    assert response.status_code == 422 and "Choose a role" in text(response)


def test_remove_member_and_not_the_last_owner(web, login, team):
    project_, people = team
    login("olivia")
    ids = {m.user.username: m.id for m in project_.memberships}
    response = web.post(f"/projects/alpha/members/{ids['dev']}/remove", htmx=True)
    assert response.status_code == 200 and text(response) == ""
    response = web.post(f"/projects/alpha/members/{ids['olivia']}/remove", htmx=True)
    assert response.status_code == 422 and "at least one owner" in text(response)
    names = {m.user.username for m in db.session.scalars(db.select(Membership))}
    assert names == {"olivia", "vic"}


def test_member_of_another_project_is_404(web, login, team, make_user, make_project):
    other = make_project("other", {make_user("zed"): Role.OWNER})
    login("olivia")
    response = web.post(f"/projects/alpha/members/{other.memberships[0].id}/remove")
    assert response.status_code == 404


def test_project_audit_log_lists_and_filters(web, login, team):
    login("olivia")
    web.post("/projects/alpha/settings", {"display_name": "Alpha 2"})
    web.post("/projects/alpha/members", {"username": "stranger", "role": "viewer"})
    page = text(web.get("/projects/alpha/audit"))
    assert "project.rename" in page and "member.add" in page
    filtered = text(web.get("/projects/alpha/audit?q=member", htmx=True))
    assert "member.add" in filtered and "project.rename" not in filtered and "<html" not in filtered
