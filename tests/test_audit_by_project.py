"""Audit events belong to a project by id: a new project named like a deleted one starts
with an empty history, and the admin's log keeps the old project's events, by name."""
from portal.extensions import db
from portal.models import AuditEvent
from tests.support.web import text


def test_new_project_with_a_deleted_ones_name_has_none_of_its_history(web, login, make_user):
    make_user("mallory")
    make_user("ann")
    make_user("root", admin=True)
    login("ann")
    assert web.post("/projects/new", {"name": "shop", "display_name": "Old shop"}).status_code == 302
    assert web.post("/projects/shop/members", {"username": "mallory", "role": "viewer"}).status_code in (200, 302)
    assert web.post("/projects/shop/settings",
                    {"display_name": "Secret plans of the old shop", "description": ""}).status_code in (200, 302)
    assert "Secret plans of the old shop" in text(web.get("/projects/shop/audit"))
    assert web.post("/projects/shop/delete", {"confirm": "shop"}).status_code == 302
    web.logout()

    login("mallory")
    assert web.post("/projects/new", {"name": "shop", "display_name": "New shop"}).status_code == 302
    history = text(web.get("/projects/shop/audit"))
    assert "mallory" in history and "project.create" in history
    for old in ("Secret plans of the old shop", "member.add", "project.rename", "project.delete"):
        assert old not in history, f"the new project shows the old one's {old!r}"
    detail = text(web.get("/projects/shop"))
    assert "Secret plans of the old shop" not in detail and "project.delete" not in detail
    dashboard = text(web.get("/"))
    assert "project.rename" not in dashboard and "project.delete" not in dashboard
    web.logout()

    login("root")
    log = text(web.get("/admin/audit"))
    assert "Secret plans of the old shop" in log and "project.delete" in log
    old_events = db.session.scalars(db.select(AuditEvent).filter_by(action="project.rename")).all()
    assert [(e.project_name, e.project_id) for e in old_events] == [("shop", None)]
