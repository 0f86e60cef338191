"""Bad input, as an attacker types it: a message beside the field or a 4xx with a reason,
never a 500, and nothing half-saved (issue 9 "Bad input", issue 16 "500s from malformed input")."""
from __future__ import annotations

import contextlib
import io
import sqlite3
import threading

import pymysql
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from portal.extensions import db
from portal.models import AuditEvent, Membership, Project, ResourcePlan, Role, User
from portal.services import audit
from portal.services.context import Actor
from tests.conftest import PASSWORD
from tests.support.html import field_value
from tests.support.waiting import wait_for
from tests.support.web import Web, error_beside, text

pytestmark = pytest.mark.reuse_app  # hundreds of requests: one app (tests/conftest.py)

TEN_THOUSAND_DIGITS = "9" * 10_000
BAD_QUANTITIES = ["NaN", "sNaN", "Infinity", "inf", "-Infinity", "1_0", "1e400", TEN_THOUSAND_DIGITS,
                  "\u0663", "1e", "1.2.3", "0x10", "1 Gi", "5\x00"]


def quantity_message(value: str, kind: str) -> str:
    """What the portal says beside a `kind` field holding `value`."""
    if len(value) > 32:
        return f"A {kind} quantity is at most 32 characters"
    if value == "1e400":
        return ("The cpu quantity must be from 1m to 100000 cores." if kind == "cpu"
                else "The memory quantity must be from 1 byte to 16Pi.")
    return "is not a Kubernetes quantity"


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def events(action: str) -> int:
    return db.session.scalar(db.select(db.func.count(AuditEvent.id)).filter_by(action=action))


@pytest.fixture
def admin(login, team):
    """The team's administrator 'root', logged in."""
    return login("root")


# Quantities -------------------------------------------------------------------------

@pytest.mark.parametrize("value", BAD_QUANTITIES, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("field, kind", [("quota_cpu", "cpu"), ("quota_memory", "memory")])
def test_bad_quota_quantity_is_explained_and_not_saved(web, login, team, field, kind, value):
    login("olivia")
    response = web.post("/projects/alpha/quota", {"quota_cpu": "", "quota_memory": "", "quota_pods": "",
                                                  field: value})
    assert response.status_code == 422
    assert quantity_message(value, kind) in error_beside(text(response), field)
    project = db.session.scalar(db.select(Project).filter_by(name="alpha"))
    assert (project.quota_cpu, project.quota_memory, project.quota_pods) == ("", "", "")
    assert events("project.quota") == 0


@pytest.mark.parametrize("value", BAD_QUANTITIES + ["0", "100001", "1.5", "+", "\u00b2"],
                         ids=lambda v: repr(v[:12]))
def test_bad_quota_pods_is_explained_and_not_saved(web, login, team, value):
    login("olivia")
    response = web.post("/projects/alpha/quota", {"quota_cpu": "", "quota_memory": "", "quota_pods": value})
    assert response.status_code == 422
    assert "Pods must be a whole number from 1 to 100000, or blank." == error_beside(text(response), "quota_pods")
    assert db.session.scalar(db.select(Project.quota_pods).filter_by(name="alpha")) == ""


def test_quota_accepts_what_the_api_server_accepts(web, login, team):
    login("olivia")
    response = web.post("/projects/alpha/quota", {"quota_cpu": "1e3", "quota_memory": "1.5Pi",
                                                  "quota_pods": "100000"})
    assert response.status_code == 302, error_beside(text(response), "quota_cpu")
    project = db.session.scalar(db.select(Project).filter_by(name="alpha"))
    assert (project.quota_cpu, project.quota_memory, project.quota_pods) == ("1e3", "1.5Pi", "100000")


PLAN = {"name": "small", "cpu_request": "250m", "memory_request": "256Mi",
        "cpu_limit": "500m", "memory_limit": "512Mi"}


@pytest.mark.parametrize("value", BAD_QUANTITIES, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("field", ["cpu_request", "memory_request", "cpu_limit", "memory_limit"])
def test_bad_plan_quantity_is_explained_and_not_saved(admin, field, value):
    response = admin.post("/admin/plans/new", dict(PLAN, **{field: value}))
    assert response.status_code == 422
    assert quantity_message(value, field.split("_")[0]) in error_beside(text(response), field)
    assert count(ResourcePlan) == 0
    assert "Infinity" not in text(admin.get("/admin/plans"))


def test_plan_accepts_every_form_of_the_grammar(admin):
    response = admin.post("/admin/plans/new", dict(PLAN, cpu_request=".5", cpu_limit="+1e0",
                                                   memory_request="1.5Gi", memory_limit="2G"))
    assert response.status_code == 302
    plan = db.session.scalar(db.select(ResourcePlan))
    assert (plan.cpu_request, plan.cpu_limit, plan.memory_request, plan.memory_limit) == (
        ".5", "+1e0", "1.5Gi", "2G")


def test_plan_bounds_are_stated(admin):
    response = admin.post("/admin/plans/new", dict(PLAN, memory_limit="17Pi"))
    assert error_beside(text(response), "memory_limit") == "The memory quantity must be from 1 byte to 16Pi."
    response = admin.post("/admin/plans/new", dict(PLAN, cpu_request="0.0001"))
    assert error_beside(text(response), "cpu_request") == "The cpu quantity must be from 1m to 100000 cores."
    assert count(ResourcePlan) == 0


def deploy_form(**changes) -> dict:
    """The deploy form as the browser posts it, with custom requests and limits."""
    data = {
        "name": "web", "image": "hummer/web", "tag": "1.0", "replicas": "1", "plan": "",
        "cpu_request": "100m", "memory_request": "128Mi", "cpu_limit": "500m", "memory_limit": "256Mi",
        "ports-0-name": "http", "ports-0-protocol": "TCP", "ports-0-container_port": "8080",
        "ports-0-exposure": "internal", "ports-0-node_port": "",
        "env-0-name": "GREETING", "env-0-source": "plain", "env-0-value": "hello",
        "env-0-secret": "", "env-0-key": "",
        "readiness-kind": "none", "liveness-kind": "none",
        "min_replicas": "1", "max_replicas": "3", "cpu_target": "80", "op": "yaml",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("value", BAD_QUANTITIES, ids=lambda v: repr(v[:12]))
@pytest.mark.parametrize("field", ["cpu_request", "memory_request", "cpu_limit", "memory_limit"])
@pytest.mark.parametrize("op", ["yaml", "deploy"])
def test_bad_deploy_quantity_keeps_the_form_and_says_why(web, login, team, field, value, op):
    """htmx swaps the answer into the form: a 422 with the message, the rest as typed."""
    login("dev")
    response = web.post("/projects/alpha/apps/new", deploy_form(op=op, **{field: value}), htmx="app-form")
    html = text(response)
    assert response.status_code == 422
    assert quantity_message(value, field.split("_")[0]) in error_beside(html, field)
    assert field_value(html, "image") == "hummer/web" and "cpu: Infinity" not in html
    assert events("app.deploy") == 0


def test_deploy_yaml_shows_a_valid_custom_quantity(web, login, team):
    login("dev")
    response = web.post("/projects/alpha/apps/new", deploy_form(cpu_request=".25", cpu_limit="1e0"),
                        htmx="app-form")
    assert response.status_code == 200
    assert ".25" in text(response) and "cpu_request-error" not in text(response)


# Images, environment variables and other deploy fields -------------------------------

BAD_DEPLOY = [
    ({"image": "Nginx"}, "image", "Upper-case letters are not allowed."),
    ({"image": "Team/web"}, "image", "Upper-case letters are not allowed."),
    ({"image": "team/Web"}, "image", "Upper-case letters are not allowed."),
    ({"image": "a" * 10_000}, "image", "at most 255 characters"),
    ({"image": "registry.example:5000/" + "a" * 240}, "image", "at most 255 characters"),
    ({"image": "team//web"}, "image", "Not an image reference"),
    ({"image": "-bad.example/web"}, "image", "The registry host is a host name"),
    ({"image": "web@sha256:abc"}, "image", "A digest is sha256:"),
    ({"image": "web\x00"}, "image", "Not an image reference"),
    ({"tag": "a" * 129}, "tag", "A tag is letters"),
    ({"tag": "v1\u00e9"}, "tag", "A tag is letters"),
    ({"env-0-name": "A" * 10_000}, "env-0-name", "at most 256 characters"),
    ({"env-0-name": "MY=VAR"}, "env-0-name", "as Kubernetes accepts"),
    ({"env-0-name": "1ST"}, "env-0-name", "as Kubernetes accepts"),
    ({"env-0-name": ".."}, "env-0-name", "as Kubernetes accepts"),
    ({"env-0-name": "ÄPFEL"}, "env-0-name", "as Kubernetes accepts"),
    ({"env-0-value": "x" * 40_000}, "env-0-value", "at most 32768 characters"),
    ({"env-0-value": "a\x00b"}, "env-0-value", "NUL"),
    ({"env-0-source": "secret", "env-0-secret": "s" * 300, "env-0-key": "k"}, "env-0-secret", "Name a secret"),
    ({"env-0-source": "secret", "env-0-secret": "db", "env-0-key": "k" * 300}, "env-0-key", "Name the key"),
    ({"ports-0-name": "x" * 10_000}, "ports-0-name", "at most 15"),
    ({"ports-0-container_port": "8_080"}, "ports-0-container_port", "from 1 to 65535"),
    ({"ports-0-container_port": "\u0668\u0660"}, "ports-0-container_port", "from 1 to 65535"),
    ({"ports-0-container_port": TEN_THOUSAND_DIGITS}, "ports-0-container_port", "from 1 to 65535"),
    ({"replicas": "1_0"}, "replicas", "from 0 to 1000"),
    ({"replicas": TEN_THOUSAND_DIGITS}, "replicas", "from 0 to 1000"),
    ({"name": "w" * 10_000}, "name", "at most 40 characters"),
    ({"command": "x" * 5000}, "command", "At most 4096 characters."),
    ({"workdir": "/srv\x00"}, "workdir", "No NUL characters"),
    ({"readiness-kind": "http", "readiness-port": "8080", "readiness-path": "/" + "p" * 5000},
     "readiness-path", "At most 4096 characters"),
]


@pytest.mark.parametrize("changes, field, message", BAD_DEPLOY,
                         ids=[f"{f}:{next(iter(c.values()))[:10]!r}" for c, f, _ in BAD_DEPLOY])
def test_bad_deploy_field_is_explained_beside_it(web, login, team, changes, field, message):
    login("dev")
    response = web.post("/projects/alpha/apps/new", deploy_form(**changes), htmx="app-form")
    assert response.status_code == 422
    assert message in error_beside(text(response), field)


def test_deploy_accepts_kubernetes_env_names_and_registry_hosts(web, login, team):
    login("dev")
    response = web.post("/projects/alpha/apps/new", deploy_form(**{
        "image": "Registry.Example.com:5000/team/web", "env-0-name": "my-var.x_1"}), htmx="app-form")
    html = text(response)
    assert response.status_code == 200, html[:2000]
    assert "Registry.Example.com:5000/team/web:1.0" in html and "my-var.x_1" in html


# Pagination --------------------------------------------------------------------------

LISTS = ["/projects", "/projects/alpha/audit", "/admin/users", "/admin/audit"]


@pytest.fixture
def three_pages(app, team):
    """Three pages (of 2 rows) on every paginated list, seen by the admin 'root'."""
    app.config["PAGE_SIZE"] = 2
    project, people = team
    for i in range(4):
        db.session.add(Project(name=f"extra{i}", display_name=f"Extra {i}"))
    for i in range(5):
        audit.record(Actor(people["root"], "127.0.0.1"), "test.event", "thing", f"t{i}", project="alpha")
    db.session.commit()


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("page, shown", [
    ("99999999999999999999999", "Page 3 of 3"), ("100001", "Page 3 of 3"), ("3", "Page 3 of 3"),
    ("-5", "Page 1 of 3"), ("abc", "Page 1 of 3"), ("1e3", "Page 1 of 3"), ("\u0663", "Page 1 of 3"),
    ("", "Page 1 of 3"), ("0", "Page 1 of 3"),
])
def test_page_number_is_bounded_on_every_list(login, three_pages, url, page, shown):
    web = login("root")
    response = web.get(f"{url}?page={page}")
    assert response.status_code == 200
    assert shown in text(response)


# Usernames ---------------------------------------------------------------------------

def test_usernames_ignore_case_everywhere(admin, app, team, runner):
    response = admin.post("/admin/users/new", {"username": "Carol", "password": "long-enough-1"})
    assert response.status_code == 302
    assert db.session.scalar(db.select(User.username).filter_by(username="carol")) == "carol"
    for clash in ("carol", "CAROL", " cArOl "):
        response = admin.post("/admin/users/new", {"username": clash, "password": "long-enough-1"})
        assert response.status_code == 422
        assert "User 'carol' already exists" in error_beside(text(response), "username")
    assert Web(app.test_client()).login("CAROL", "long-enough-1").status_code == 302
    assert Web(app.test_client()).login("Root", PASSWORD).status_code == 302, "Admin could not log in"
    owner = Web(app.test_client())
    owner.login("olivia", PASSWORD)
    assert owner.post("/projects/alpha/members", {"username": "Stranger", "role": "viewer"}).status_code == 302
    assert owner.post("/projects/alpha/members", {"username": "CAROL", "role": "viewer"}).status_code == 302
    response = owner.post("/projects/alpha/members", {"username": "STRANGER", "role": "viewer"})
    assert "stranger is already a member (viewer)." == error_beside(text(response), "username")
    names = set(db.session.scalars(db.select(User.username).join(Membership).join(Project)
                                   .filter(Project.name == "alpha")))
    assert {"stranger", "carol"} <= names
    result = runner.invoke(args=["create-admin", "--username", "CAROL"], input="long-enough-1\nlong-enough-1\n")
    assert result.exit_code != 0 and "User 'carol' already exists" in result.output
    result = runner.invoke(args=["create-admin", "--username", "Boss"], input="long-enough-1\nlong-enough-1\n")
    assert result.exit_code == 0 and "Administrator 'boss' created." in result.output
    assert db.session.scalar(db.select(db.func.count(User.id))) == 7


def test_users_search_ignores_case(admin, make_user):
    make_user("Carol")
    assert db.session.scalar(db.select(User).filter_by(username="carol")) is not None
    assert "carol" in text(admin.get("/admin/users?q=CAR"))


# Passwords ---------------------------------------------------------------------------

BAD_PASSWORDS = [
    (" " * 8, "A password cannot be only spaces."),
    ("\t \n \u3000 \r\n ", "A password cannot be only spaces."),
    ("x" * 1025, "Password must be at most 1024 characters."),
    ("long-enough\x00", "A password cannot contain a NUL character."),
    ("short", "Password must be at least 8 characters."),
]


@pytest.mark.parametrize("password, message", BAD_PASSWORDS, ids=lambda v: repr(v[:8]))
def test_bad_password_for_a_new_user(admin, password, message):
    response = admin.post("/admin/users/new", {"username": "carol", "password": password})
    assert response.status_code == 422
    assert error_beside(text(response), "password") == message
    assert db.session.scalar(db.select(User).filter_by(username="carol")) is None


@pytest.mark.parametrize("password, message", BAD_PASSWORDS, ids=lambda v: repr(v[:8]))
def test_bad_password_reset(admin, make_user, password, message):
    carol = make_user("carol")
    before = carol.password_hash
    response = admin.post(f"/admin/users/{carol.id}/password", {"password": password})
    assert response.status_code == 422
    assert error_beside(text(response), "password") == message
    db.session.refresh(carol)
    assert carol.password_hash == before


@pytest.mark.parametrize("password, message", BAD_PASSWORDS[:3], ids=lambda v: repr(v[:8]))
def test_bad_password_on_the_command_line(runner, password, message):
    result = runner.invoke(args=["create-admin", "--username", "boss"], input=f"{password}\n{password}\n",
                           env={"HUMMER_ADMIN_PASSWORD": password})
    assert result.exit_code != 0 and f"password: {message}" in result.output
    assert db.session.scalar(db.select(User)) is None


def test_longest_password_is_accepted(admin, app):
    response = admin.post("/admin/users/new", {"username": "carol", "password": " x" * 512})
    assert response.status_code == 302
    assert Web(app.test_client()).login("carol", " x" * 512).status_code == 302


# Search ------------------------------------------------------------------------------

def test_search_wildcards_match_themselves(admin, make_user, make_project):
    carol, _ = make_user("a_b"), make_user("axb")
    make_project("sale", {carol: Role.OWNER}).display_name = "50% off"
    make_project("full", {carol: Role.OWNER}).display_name = "500 off"
    db.session.commit()
    audit.record(Actor(carol, ""), "thing.make", "thing", "x_y")
    audit.record(Actor(carol, ""), "thing.make", "thing", "xzy")
    db.session.commit()
    users_page = text(admin.get("/admin/users?q=_", htmx=True))
    assert "a_b" in users_page and "axb" not in users_page
    projects_page = text(admin.get("/projects?q=%25", htmx=True))
    assert 'href="/projects/sale"' in projects_page and 'href="/projects/full"' not in projects_page
    audit_page = text(admin.get("/admin/audit?q=x_y", htmx=True))
    assert "x_y" in audit_page and "xzy" not in audit_page
    assert "xzy" not in text(admin.get("/admin/audit?q=x%25y", htmx=True))
    assert "No project matches" in text(admin.get("/projects?q=%25%25%25", htmx=True))


# File parts in place of text fields --------------------------------------------------

def file_part():
    return (io.BytesIO(b"not text"), "evil.txt", "text/plain")


@pytest.mark.parametrize("url, data, who", [
    ("/login", {"username": "FILE", "password": "x"}, None),
    ("/login", {"username": "root", "password": "FILE"}, None),
    ("/admin/users/new", {"username": "carol", "password": "FILE"}, "root"),
    ("/admin/plans/new", dict(PLAN, cpu_request="FILE"), "root"),
    ("/projects/new", {"name": "FILE"}, "olivia"),
    ("/projects/alpha/quota", {"quota_cpu": "FILE", "quota_memory": "", "quota_pods": ""}, "olivia"),
    ("/projects/alpha/members", {"username": "FILE", "role": "viewer"}, "olivia"),
    ("/projects/alpha/apps/new", deploy_form(image="FILE"), "dev"),
])
def test_a_file_part_instead_of_a_text_field_is_a_400(app, web, login, team, url, data, who):
    if who:
        web = login(who)
    before = (count(User), count(Project), count(ResourcePlan), count(Membership), count(AuditEvent))
    data = {k: file_part() if v == "FILE" else v for k, v in data.items()}
    response = web.post(url, data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "This form takes no file uploads" in text(response)
    assert (count(User), count(Project), count(ResourcePlan), count(Membership), count(AuditEvent)) == before


def test_multipart_text_fields_still_work(web, login, team):
    login("olivia")
    response = web.post("/projects/new", {"name": "shop"}, content_type="multipart/form-data")
    assert response.status_code == 302


# Attacker's text in every field of the forms owned here ---------------------------------

NASTY = ["\x00", "a\x00b", "x" * 10_000, " " * 300, "\r\n\r\n", "\x1b[31m\x07", "\u202e\ufeff",
         "😀" * 300, "' OR 1=1 --", "{{7*7}}", "<script>alert(1)</script>", "%_%"]
FORMS = [
    ("olivia", "/projects/new", {"name": "shop", "display_name": "Shop", "description": "d"}),
    ("olivia", "/projects/alpha/settings", {"display_name": "Alpha", "description": "d"}),
    ("olivia", "/projects/alpha/quota", {"quota_cpu": "1", "quota_memory": "1Gi", "quota_pods": "10"}),
    ("olivia", "/projects/alpha/members", {"username": "stranger", "role": "viewer"}),
    ("olivia", "/projects/alpha/delete", {"confirm": "nope"}),
    ("root", "/admin/users/new", {"username": "carol", "email": "c@example.org", "password": "long-enough-1"}),
    ("root", "/admin/plans/new", dict(PLAN)),
    ("dev", "/projects/alpha/apps/new", deploy_form()),
    (None, "/login", {"username": "olivia", "password": "wrong-password"}),
]


@pytest.mark.parametrize("value", NASTY, ids=lambda v: repr(v[:8]))
@pytest.mark.parametrize("who, url, form", FORMS, ids=[u for _, u, _ in FORMS])
def test_no_field_answers_500(app, web, login, team, who, url, form, value):
    if who:
        web = login(who)
    for field in form:
        if field in ("op", "role") or field.endswith(("-kind", "-source", "-protocol", "-exposure")):
            continue
        response = web.post(url, dict(form, **{field: value}))
        assert response.status_code < 500, (field, text(response)[:500])
        db.session.rollback()


def test_long_email_is_explained(admin):
    response = admin.post("/admin/users/new", {"username": "carol", "email": "c" * 250 + "@example.org",
                                               "password": "long-enough-1"})
    assert response.status_code == 422
    assert error_beside(text(response), "email").startswith("At most 255 characters.")


@pytest.mark.parametrize("url, method", [
    ("/admin/users/99999999999999999999999/password", "get"),
    ("/admin/users/99999999999999999999999/disable", "post"),
    ("/admin/plans/99999999999999999999999/edit", "get"),
    ("/admin/plans/9223372036854775808/delete", "post"),
    ("/projects/alpha/members/99999999999999999999999/role", "post"),
    ("/projects/alpha/members/99999999999999999999999/remove", "post"),
    ("/cluster/runs/99999999999999999999999", "get"),
])
def test_huge_ids_in_urls_are_404(admin, team, url, method):
    assert getattr(admin, method)(url).status_code == 404


# Two identical member adds at once -----------------------------------------------------

@contextlib.contextmanager
def writes_held(database_url: str):
    """Hold the database's write lock from a connection of our own, as a long
    transaction would: requests read freely but wait at their first INSERT."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database, isolation_level=None, timeout=30)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    else:
        holder = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username,
                                 password=url.password or "", database=url.database)
        with holder.cursor() as cur:
            cur.execute("LOCK TABLES membership READ, audit_event READ")
        try:
            yield
        finally:
            with holder.cursor() as cur:
                cur.execute("UNLOCK TABLES")
            holder.close()


def test_two_identical_member_adds_at_once_answer_as_a_duplicate(app, team, database_url):
    """Both requests pass the "already a member?" check before either inserts; the
    unique constraint stops the second, which answers as for any duplicate."""
    owners = [Web(app.test_client()) for _ in range(2)]
    for owner in owners:
        assert owner.login("olivia", PASSWORD).status_code == 302
    inserting: set[int] = set()

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            inserting.add(threading.get_ident())

    responses: dict[int, object] = {}

    def add(i):
        responses[i] = owners[i].post("/projects/alpha/members", {"username": "stranger", "role": "viewer"})

    db.session.rollback()
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
        with writes_held(database_url):
            for thread in threads:
                thread.start()
            # both are past their check and wait at their INSERT
            wait_for(lambda: len(inserting) == 2, timeout=30, what="both adds at their INSERT")
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    statuses = sorted(r.status_code for r in responses.values())
    assert statuses == [302, 422], [text(r)[:300] for r in responses.values()]
    loser = next(r for r in responses.values() if r.status_code == 422)
    assert error_beside(text(loser), "username") == "stranger is already a member (viewer)."
    members = db.session.scalars(db.select(Membership).join(User).filter(User.username == "stranger")).all()
    assert len(members) == 1 and members[0].role == "viewer"
    assert events("member.add") == 1
