"""The console as served: where am I, empty states, times, audit words, confirmations,
the viewer's banner and the dashboard's health card (browser checks: test_console_browser)."""
import ast
import html
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Membership, ResourcePlan, User
from portal.services import audit, provisioning
from portal.templating import ago, reltime
from tests.support.processes import free_port
from tests.support.web import text

PORTAL = Path(__file__).resolve().parent.parent / "portal"


def page(web, url):
    response = web.get(url)
    assert response.status_code == 200, text(response)[:300]
    return html.unescape(text(response))


# Audit actions in words ------------------------------------------------------------

def _resolve(node, module_name, path):
    """The action keys an expression can take: a literal, `a if c else b`, a module constant,
    or f"cluster.{kind}" over the run kinds."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _resolve(node.body, module_name, path) | _resolve(node.orelse, module_name, path)
    if isinstance(node, ast.Name):
        import importlib
        value = getattr(importlib.import_module(module_name), node.id, None)
        if isinstance(value, str):
            return {value}
    if isinstance(node, ast.JoinedStr) and ast.unparse(node) == "f'cluster.{kind}'":
        return {f"cluster.{kind}" for kind in provisioning.ORCHESTRATIONS}
    pytest.fail(f"{path}:{node.lineno}: cannot tell which audit action `{ast.unparse(node)}` records; "
                "use a literal, or teach this test the new form")


def recorded_actions() -> dict[str, str]:
    """Every action key a record call in portal/ can write, with where it is written."""
    found = {}
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        module = ".".join(path.relative_to(PORTAL.parent).with_suffix("").parts)
        # A wrapper that passes its own parameter on (apps._record) is read at its callers.
        forwarded = {id(call) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef)
                     for call in ast.walk(fn) if isinstance(call, ast.Call) and len(call.args) > 1
                     and isinstance(call.args[1], ast.Name)
                     and call.args[1].id in {a.arg for a in fn.args.args}}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2 or id(node) in forwarded:
                continue
            func = node.func
            is_record = (isinstance(func, ast.Attribute) and func.attr == "record"
                         and isinstance(func.value, ast.Name) and func.value.id == "audit") or \
                        (isinstance(func, ast.Name) and func.id == "_record")
            if is_record:
                for key in _resolve(node.args[1], module, path):
                    found[key] = f"{path.relative_to(PORTAL.parent)}:{node.lineno}"
    return found


def test_every_recorded_action_has_words():
    actions = recorded_actions()
    assert {"project.quota", "member.role", "app.deploy", "cluster.apply", "cluster.run_resumed"} <= set(actions)
    missing = {k: where for k, where in actions.items() if k not in audit.ACTION_WORDS}
    assert not missing, f"add these to services/audit.py ACTION_WORDS: {missing}"
    assert audit.describe("project.quota") == "changed the quota"


def test_audit_pages_show_words_not_keys(web, login, team):
    login("olivia")
    web.post("/projects/alpha/quota", {"quota_cpu": "2", "quota_memory": "4Gi", "quota_pods": "20"})
    for url in ("/projects/alpha/audit", "/projects/alpha", "/"):
        body = page(web, url)
        assert "changed the quota" in body, url
        visible = re.sub(r"<[^>]+>", " ", body)
        assert "project.quota" not in visible, url


# Times -----------------------------------------------------------------------------

def test_times_are_relative_with_the_exact_time_on_hover():
    now = datetime.now(timezone.utc)
    assert ago(now - timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(minutes=3), now) == "3 min ago"
    assert ago(now - timedelta(hours=2, minutes=5), now) == "2 h ago"
    assert ago(now - timedelta(days=1), now) == "1 day ago"
    assert ago(now - timedelta(days=5), now) == "5 days ago"
    then = datetime(2020, 1, 2, 3, 4, 5)  # naive UTC, as the database keeps it
    assert ago(then.replace(tzinfo=timezone.utc), now) == "2020-01-02"
    assert str(reltime(then)) == ('<time datetime="2020-01-02T03:04:05Z" title="2020-01-02 03:04:05 UTC">'
                                  '2020-01-02</time>')


def test_audit_log_shows_relative_times(web, login, team):
    db.session.add(AuditEvent(actor_name="olivia", action="project.rename", object_type="project",
                              object_name="alpha", project_name="alpha", project_id=team[0].id,
                              at=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=3)))
    db.session.commit()
    login("olivia")
    body = page(web, "/projects/alpha/audit")
    assert re.search(r'<time datetime="[0-9T:-]+Z" title="[0-9 :-]+ UTC">3 min ago</time>', body), body


# Where am I ------------------------------------------------------------------------

def test_navigation_and_tabs_mark_the_current_page(web, login, team):
    login("root")
    assert '<a href="/projects" aria-current="page">Projects</a>' in page(web, "/projects")
    users = page(web, "/admin/users")
    assert '<a href="/admin/users" aria-current="page">Users</a>' in users
    assert 'href="/projects" aria-current' not in users
    members = page(web, "/projects/alpha/members")
    assert '<a href="/projects/alpha/members" aria-current="page">Members</a>' in members
    assert members.count('aria-current="page"') == 2  # the top entry and the tab
    assert '<a href="/projects/alpha/apps" aria-current="page">Apps</a>' in page(web, "/projects/alpha/apps")
    assert '<a href="/projects/alpha/settings" aria-current="page">Settings</a>' in page(
        web, "/projects/alpha/settings")


def test_project_header_has_breadcrumbs_and_a_switcher(web, login, team, make_project):
    project, people = team
    make_project("beta", {people["vic"]: "viewer"})
    make_project("gamma", {people["olivia"]: "owner"})  # not vic's
    login("vic")
    body = page(web, "/projects/alpha/members")
    crumbs = re.search(r'<nav aria-label="breadcrumb">(.*?)</nav>', body, re.S).group(1)
    assert 'href="/projects"' in crumbs and 'href="/projects/alpha"' in crumbs
    switcher = re.search(r'<details class="dropdown switcher">(.*?)</details>', body, re.S).group(1)
    assert 'href="/projects/beta"' in switcher and 'href="/projects/alpha" aria-current="page"' in switcher
    assert "gamma" not in switcher


# Empty states ----------------------------------------------------------------------

def test_no_projects_offers_to_create_one(web, login, make_user):
    make_user("ann")
    login("ann")
    for url in ("/", "/projects"):
        body = page(web, url)
        assert re.search(r'<a href="/projects/new" role="button">Create a project</a>', body), url
    assert "No project matches" in page(web, "/projects?q=zzz")
    assert "Create a project" not in page(web, "/projects?q=zzz")


# The viewer's banner ---------------------------------------------------------------

@pytest.mark.parametrize("who, wizard", [("vic", False), ("dev", False), ("olivia", False), ("root", True)])
def test_no_cluster_banner_points_to_the_wizard_only_for_those_who_can_open_it(web, login, team, who, wizard):
    login(who)
    for url in ("/projects/alpha", "/projects/alpha/apps"):
        banner = re.search(r'<p class="banner" role="alert" id="cluster-banner">(.*?)</p>', page(web, url))
        assert banner, url
        assert banner.group(1).startswith("No Kubernetes cluster is configured")
        assert ("cluster wizard" in banner.group(1)) is wizard
        assert ("an administrator sets it up" in banner.group(1)) is not wizard


# Feedback and confirmations --------------------------------------------------------

def test_inline_role_change_confirms_itself(web, login, team):
    project, people = team
    vic = db.session.scalar(db.select(Membership).join(User).filter(User.username == "vic"))
    login("olivia")
    response = web.post(f"/projects/alpha/members/{vic.id}/role", {"role": "developer"}, htmx="member")
    body = html.unescape(text(response))
    assert response.status_code == 200
    assert ('<p id="inline-status" class="saved" role="status" hx-swap-oob="true">'
            'Saved: vic is now developer.</p>') in body


def test_disable_user_asks_first_and_says_what_follows(web, login, make_user):
    make_user("root", admin=True)
    carol = make_user("carol")
    login("root")
    users = page(web, "/admin/users")
    button = re.search(rf'<a href="/admin/users/{carol.id}/disable"[^>]*>Disable</a>', users, re.S).group(0)
    assert 'hx-confirm="Disable carol? carol can no longer log in' in button
    assert f'hx-post="/admin/users/{carol.id}/disable"' in button
    # Without JavaScript the link opens a confirm page; nothing changes until its form is sent.
    confirm = page(web, f"/admin/users/{carol.id}/disable")
    assert "Disable carol?" in confirm and "can no longer log in" in confirm
    assert f'<form method="post" action="/admin/users/{carol.id}/disable"' in confirm
    db.session.expire_all()
    assert db.session.get(User, carol.id).disabled is False
    assert web.post(f"/admin/users/{carol.id}/disable").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, carol.id).disabled is True


def test_deleting_the_default_plan_says_what_follows(web, login, make_user):
    make_user("root", admin=True)
    plan = ResourcePlan(name="small", cpu_request="250m", memory_request="256Mi", cpu_limit="500m",
                        memory_limit="512Mi", is_default=True)
    db.session.add(plan)
    db.session.commit()
    login("root")
    plans = page(web, "/admin/plans")
    assert "hx-confirm=\"Delete plan small? small is the default plan" in plans
    confirm = page(web, f"/admin/plans/{plan.id}/delete")
    assert "Delete plan small?" in confirm and "new projects get no default requests and limits" in confirm
    assert db.session.scalar(db.select(ResourcePlan).filter_by(name="small")) is not None
    assert web.post(f"/admin/plans/{plan.id}/delete", htmx="plan").status_code == 200
    assert db.session.scalar(db.select(ResourcePlan).filter_by(name="small")) is None


def test_removing_a_member_asks_first(web, login, team):
    dev = db.session.scalar(db.select(Membership).join(User).filter(User.username == "dev"))
    login("olivia")
    members = page(web, "/projects/alpha/members")
    assert "hx-confirm=\"Remove dev from alpha? dev loses access to alpha at once" in members
    confirm = page(web, f"/projects/alpha/members/{dev.id}/remove")
    assert "Remove dev from alpha?" in confirm
    assert db.session.get(Membership, dev.id) is not None
    web.logout()
    login("vic")
    assert web.get(f"/projects/alpha/members/{dev.id}/remove").status_code == 403


# The dashboard -----------------------------------------------------------------------

def test_dashboard_loads_health_after_the_page(web, login, team):
    login("vic")
    body = page(web, "/")
    assert 'hx-get="/dashboard/health" hx-trigger="load"' in body
    assert 'hx-get="/dashboard/projects" hx-trigger="load"' in body
    assert "cluster-nodes" not in body  # the nodes table is the admins'
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert "<html" not in card
    assert re.search(r"<dt>Kubernetes API</dt>\s*<dd class=\"check-unknown\">.*not configured", card, re.S)
    assert re.search(r"<dt>Salt</dt>\s*<dd class=\"check-unknown\">.*not configured", card, re.S)
    status = html.unescape(text(web.get("/dashboard/projects", htmx="project-status")))
    assert 'href="/projects/alpha"' in status and "App status needs the cluster." in status


def test_health_card_is_quick_when_salt_and_the_api_are_down(app, web, login, team, tmp_path):
    dead = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{dead}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    app.config.update(SALT_API_URL=f"http://127.0.0.1:{free_port()}", SALT_API_PASSWORD="x",
                      KUBECONFIG=str(kubeconfig))
    login("root")
    started = time.monotonic()
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert time.monotonic() - started < 8
    assert re.search(r"<dt>Kubernetes API</dt>\s*<dd class=\"check-bad\">.*not reachable", card, re.S)
    assert re.search(r"<dt>Salt</dt>\s*<dd class=\"check-bad\">.*not reachable", card, re.S)
    assert f"127.0.0.1:{dead}" in card  # the admin sees why
    web.logout()
    login("vic")
    card = html.unescape(text(web.get("/dashboard/health", htmx="health")))
    assert "not reachable" in card and f"127.0.0.1:{dead}" not in card


def test_recent_activity_is_what_the_user_may_see(web, login, team, make_project):
    project, people = team
    secret = make_project("secret", {people["olivia"]: "owner"})
    db.session.add_all([
        AuditEvent(actor_name="olivia", action="project.rename", object_type="project",
                   object_name="alpha", project_name="alpha", project_id=project.id),
        AuditEvent(actor_name="olivia", action="project.quota", object_type="project",
                   object_name="secret", project_name="secret", project_id=secret.id)])
    db.session.commit()
    login("vic")
    body = page(web, "/")
    activity = re.search(r'<article id="activity">(.*?)</article>', body, re.S).group(1)
    assert "renamed the project" in activity and "<code>alpha</code>" in activity
    assert "secret" not in activity
