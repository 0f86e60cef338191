"""SQL queries per page stay flat as the rows grow: no query per member, project or event.

Each page is fetched with a few rows and with many (more members, projects, users and audit
events than fit a page); the number of statements the page sends must not grow.
"""
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from portal.extensions import db
from portal.models import AuditEvent, Membership, Project, Role, User

PAGES = ["/", "/projects", "/projects/alpha", "/projects/alpha/members", "/projects/alpha/audit"]
ADMIN_PAGES = ["/admin/users", "/admin/audit"]


@contextmanager
def counting(engine):
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def grow(project: Project, password_hash: str, start: int, count: int) -> None:
    """`count` more users, each a member of `project` and of a project of their own, with
    audit events in both."""
    for i in range(start, start + count):
        user = User(username=f"user{i:03d}", password_hash=password_hash)
        own = Project(name=f"p{i:03d}", display_name=f"P{i}")
        own.memberships.append(Membership(user=user, role=Role.OWNER.value))
        project.memberships.append(Membership(user=user, role=Role.DEVELOPER.value))
        db.session.add_all([user, own])
        db.session.flush()
        for p in (project, own):
            db.session.add(AuditEvent(actor_id=user.id, actor_name=user.username, action="member.add",
                                      object_type="member", object_name=user.username,
                                      project_name=p.name, project_id=p.id))
    db.session.commit()


def queries_per_page(web, pages) -> dict[str, int]:
    counts = {}
    for url in pages:
        web.get(url)  # warm: first-use lookups (e.g. cluster settings cache) count once, not here
        with counting(db.engine) as statements:
            response = web.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[url] = len(statements)
    return counts


@pytest.mark.parametrize("viewer", ["root", "olivia"])
def test_queries_per_page_do_not_grow_with_rows(web, login, make_user, make_project, password_hash,
                                                viewer):
    root = make_user("root", admin=True)
    olivia = make_user("olivia")
    project = make_project("alpha", {olivia: Role.OWNER, root: Role.OWNER})
    grow(project, password_hash, 0, 3)
    login(viewer)
    pages = PAGES + (ADMIN_PAGES if viewer == "root" else [])
    few = queries_per_page(web, pages)
    grow(project, password_hash, 3, 50)   # 53 members: the issue saw 61 queries for 56
    many = queries_per_page(web, pages)
    grown = {url: (few[url], many[url]) for url in pages if many[url] > few[url]}
    assert not grown, f"queries grew with the rows (few, many): {grown}"
    assert many["/projects/alpha/members"] <= 12, many
