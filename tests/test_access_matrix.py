"""Route-by-role matrix: every route, every role, exactly the expected answer.

Levels: who may use a route. The expected status for each role follows from the level:
  guest   the login page: logged-in users are sent on to the dashboard;
  public  anyone;                 login  any logged-in user;
  viewer  project members (viewer and up) and admins;  developer  developers, owners, admins;
  owner  project owners and admins;
  admin   administrators only.
Strangers (logged in, not a member) get 404 for project URLs: the project does not exist
for them. Anonymous users are sent to the login page (302 to /login).
A test below fails when a route is added without a row here.
"""
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import current_app

from portal.extensions import db
from portal.models import (
    AlertRule,
    ApiToken,
    Build,
    ClusterSettings,
    Membership,
    Project,
    ProvisioningRun,
    PublicImage,
    RegistryGcRun,
    ResourcePlan,
    TrashedVolume,
    User,
    Volume,
)

pytestmark = pytest.mark.reuse_app  # hundreds of requests: one app (tests/conftest.py)

ROLES = ["anonymous", "stranger", "vic", "dev", "olivia", "root"]  # none, non-member, viewer, developer, owner, admin

# endpoint -> (method, url, form data, level, status on success)
MATRIX = {
    "auth.login": ("GET", "/login", None, "guest", 200),
    "auth.logout": ("POST", "/logout", {}, "login", 302),
    "auth.profile": ("GET", "/profile", None, "login", 200),
    "auth.change_password": ("POST", "/profile/password", {"current_password": "correct-horse-1", "password": "brand-new-pass-1", "confirm": "brand-new-pass-1"}, "login", 302),
    "auth.logout_everywhere": ("POST", "/profile/logout-everywhere", {}, "login", 302),
    "auth.change_language": ("POST", "/profile/language", {"language": "zh_Hans"}, "login", 302),
    "auth.switch_language": ("POST", "/language", {"language": "zh_Hans", "next": "/login"}, "public", 302),
    "dashboard.index": ("GET", "/", None, "login", 200),
    "dashboard.healthz": ("GET", "/healthz", None, "public", 200),
    "dashboard.health_card": ("GET", "/dashboard/health", None, "login", 200),
    "dashboard.project_status": ("GET", "/dashboard/projects", None, "login", 200),
    "dashboard.usage_card": ("GET", "/dashboard/usage", None, "login", 200),
    "projects.index": ("GET", "/projects?q=al", None, "login", 200),
    "projects.create": ("POST", "/projects/new", {"name": "beta"}, "login", 302),
    "projects.detail": ("GET", "/projects/alpha", None, "viewer", 200),
    "projects.members": ("GET", "/projects/alpha/members", None, "viewer", 200),
    "projects.member_suggestions": ("GET", "/projects/alpha/members/suggest?username=str", None, "owner", 200),
    "projects.audit_log": ("GET", "/projects/alpha/audit", None, "viewer", 200),
    "projects.settings": ("POST", "/projects/alpha/settings", {"display_name": "Alpha 2"}, "owner", 302),
    "projects.delete": ("POST", "/projects/alpha/delete", {"confirm": "alpha"}, "owner", 302),
    "projects.add_member": ("POST", "/projects/alpha/members", {"username": "stranger", "role": "viewer"}, "owner", 302),
    "projects.change_role": ("POST", "/projects/alpha/members/{vic_member}/role", {"role": "developer"}, "owner", 302),
    "projects.remove_member": ("POST", "/projects/alpha/members/{dev_member}/remove", {}, "owner", 302),
    "projects.quota": ("POST", "/projects/alpha/quota", {"quota_cpu": "2", "quota_memory": "4Gi", "quota_pods": "20"}, "owner", 302),
    # Apps: no cluster is configured here, so an allowed request that needs the cluster
    # gets 503 ("not configured"); the point is that roles are checked before it.
    # tests/apps/ covers the same routes against the real API server.
    "apps.index": ("GET", "/projects/alpha/apps", None, "viewer", 200),
    "apps.new": ("GET", "/projects/alpha/apps/new", None, "developer", 200),
    "apps.detail": ("GET", "/projects/alpha/apps/web", None, "viewer", 503),
    "apps.events": ("GET", "/projects/alpha/apps/web/events", None, "viewer", 503),
    "apps.logs": ("GET", "/projects/alpha/apps/web/logs", None, "viewer", 503),
    "apps.logs_download": ("GET", "/projects/alpha/apps/web/logs/download", None, "viewer", 503),
    "apps.logs_stream": ("GET", "/projects/alpha/apps/web/logs/stream", None, "viewer", 503),
    "apps.scale": ("POST", "/projects/alpha/apps/web/scale", {"replicas": "2"}, "developer", 503),
    "apps.image": ("POST", "/projects/alpha/apps/web/image", {"image": "nginx", "tag": "1"}, "developer", 503),
    "apps.rollback": ("POST", "/projects/alpha/apps/web/rollback", {"revision": "1"}, "developer", 503),
    "apps.restart": ("POST", "/projects/alpha/apps/web/restart", {}, "developer", 503),
    "apps.stop": ("POST", "/projects/alpha/apps/web/stop", {}, "developer", 503),
    "apps.start": ("POST", "/projects/alpha/apps/web/start", {}, "developer", 503),
    "apps.edit": ("GET", "/projects/alpha/apps/web/edit", None, "developer", 503),
    "apps.delete": ("POST", "/projects/alpha/apps/web/delete", {"confirm": "web"}, "developer", 503),
    # Images: no registry is configured here either: the retention page says so (200); an
    # allowed apply, which needs the registry, answers 503. tests/images/ covers them for real.
    "images.retention_page": ("GET", "/projects/alpha/images/retention", None, "viewer", 200),
    "images.retention_save": ("POST", "/projects/alpha/images/retention", {"keep_tags": "5"}, "owner", 302),
    "images.retention_apply": ("POST", "/projects/alpha/images/retention/apply", {"token": ""}, "owner", 503),
    "images.public_switch": ("POST", "/projects/alpha/images/public", {"repository": "alpha/web", "public": "1"}, "admin", 302),
    # Images: no registry is configured here either: the Images tab says so in a banner (200),
    # the pages that read the registry answer 503 after the role check. tests/images/ covers
    # them against the real registries.
    "images.index": ("GET", "/projects/alpha/images", None, "viewer", 200),
    "images.repository": ("GET", "/projects/alpha/images/alpha/web", None, "viewer", 503),
    "images.tag": ("GET", "/projects/alpha/images/alpha/web/-/tags/1.0", None, "viewer", 503),
    "images.delete": ("POST", "/projects/alpha/images/alpha/web/-/tags/1.0/delete", {"digest": "sha256:" + "0" * 64}, "developer", 503),
    # Images: no registry is configured here, so an allowed upload answers 503 ("not configured")
    # after the roles were checked; its body is raw bytes (the archive), sent with X-CSRFToken.
    # tests/images/ covers the same routes against the real registries.
    "images.upload": ("GET", "/projects/alpha/images/upload", None, "developer", 200),
    "images.push": ("POST", "/projects/alpha/images/upload?name=web&tag=1.0", b"not an archive", "developer", 503),
    # Builds: the form's POST without a context file answers 422 beside the field (nothing is
    # built); cancelling the ended build below answers 422 too. tests/builds/ builds for real.
    "builds.index": ("GET", "/projects/alpha/builds", None, "viewer", 200),
    "builds.new": ("GET", "/projects/alpha/builds/new", None, "developer", 200),
    "builds.create": ("POST", "/projects/alpha/builds/new", {"source": "upload", "name": "web", "tag": "1"}, "developer", 422),
    "builds.detail": ("GET", "/projects/alpha/builds/{build_id}", None, "viewer", 200),
    "builds.log_text": ("GET", "/projects/alpha/builds/{build_id}/log", None, "viewer", 200),
    "builds.log_stream": ("GET", "/projects/alpha/builds/{build_id}/log/stream", None, "viewer", 200),
    "builds.cancel": ("POST", "/projects/alpha/builds/{build_id}/cancel", {}, "developer", 422),
    "builds.update_app": ("POST", "/projects/alpha/builds/{build_id}/update-app", {"app": "web"}, "developer", 422),
    # Cluster wizard: admins only. No Salt is configured here: its pages render with a banner
    # saying how to configure it (200); actions that need Salt answer 503 with the reason, and
    # nothing is stored; tests/cluster/ covers them against a real Salt master.
    "cluster.index": ("GET", "/cluster", None, "admin", 200),
    "cluster.settings": ("POST", "/cluster/settings", {"name": "lab", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16", "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}, "admin", 302),
    "cluster.nodes": ("GET", "/cluster/nodes", None, "admin", 200),
    "cluster.answering": ("GET", "/cluster/nodes/answering", None, "admin", 200),
    "cluster.key": ("POST", "/cluster/keys/hm-node1/accept", {}, "admin", 503),
    "cluster.add_host": ("POST", "/cluster/hosts", {"address": "192.0.2.13", "port": "22", "user": "root", "password": "secret", "minion_id": "k8s-node3"}, "admin", 503),
    "cluster.roles": ("POST", "/cluster/nodes/hm-node1/roles", {"roles": "node"}, "admin", 503),
    "cluster.preflight": ("POST", "/cluster/preflight", {}, "admin", 422),
    "cluster.start_run": ("POST", "/cluster/runs", {"kind": "plan"}, "admin", 422),
    "cluster.run": ("GET", "/cluster/runs/{run_id}", None, "admin", 200),
    "cluster.retry": ("POST", "/cluster/runs/{run_id}/retry", {}, "admin", 422),
    "cluster.register": ("POST", "/cluster/register", {}, "admin", 422),
    "admin.user_list": ("GET", "/admin/users", None, "admin", 200),
    "admin.user_new": ("POST", "/admin/users/new", {"username": "newbie", "password": "long-enough-1"}, "admin", 302),
    "admin.user_disable": ("POST", "/admin/users/{stranger_id}/disable", {}, "admin", 302),
    "admin.user_enable": ("POST", "/admin/users/{sleeper_id}/enable", {}, "admin", 302),
    "admin.user_password": ("POST", "/admin/users/{stranger_id}/password", {"password": "another-pass-1"}, "admin", 302),
    "admin.plan_list": ("GET", "/admin/plans", None, "admin", 200),
    "admin.plan_new": ("POST", "/admin/plans/new", {"name": "large", "cpu_request": "1", "memory_request": "1Gi", "cpu_limit": "2", "memory_limit": "2Gi"}, "admin", 302),
    "admin.plan_edit": ("POST", "/admin/plans/{plan_id}/edit", {"name": "small", "cpu_request": "100m", "memory_request": "128Mi", "cpu_limit": "200m", "memory_limit": "256Mi"}, "admin", 302),
    "admin.plan_delete": ("POST", "/admin/plans/{plan_id}/delete", {}, "admin", 302),
    "admin.audit_log": ("GET", "/admin/audit", None, "admin", 200),
    # Registry garbage collection: no Salt here, so the page shows its banner and the
    # actions answer 503 with the reason; tests/salt/test_registry_gc.py runs them for real.
    "admin.registry_gc": ("GET", "/admin/registry/gc", None, "admin", 200),
    "admin.registry_gc_dry_run": ("POST", "/admin/registry/gc/dry-run", {}, "admin", 503),
    "admin.registry_gc_start": ("POST", "/admin/registry/gc/run", {}, "admin", 503),
    "admin.registry_gc_run": ("GET", "/admin/registry/gc/runs/{gc_run_id}", None, "admin", 200),
    # Volumes: the volume 'data' is a row and a directory (no cluster here): what needs the
    # cluster answers 503 once the role is checked; the file browser works on the directory.
    # tests/volumes/ covers them against the real API server.
    "volumes.index": ("GET", "/projects/alpha/volumes", None, "viewer", 200),
    "volumes.new": ("POST", "/projects/alpha/volumes/new", {"name": "v2", "capacity": "1Gi", "access_mode": "ReadWriteMany"}, "developer", 503),
    "volumes.detail": ("GET", "/projects/alpha/volumes/data", None, "viewer", 200),
    "volumes.resize": ("POST", "/projects/alpha/volumes/data/resize", {"capacity": "2Gi"}, "developer", 503),
    "volumes.delete": ("POST", "/projects/alpha/volumes/data/delete", {"confirm": "data"}, "developer", 503),
    "volumes.browse": ("GET", "/projects/alpha/volumes/data/files", None, "viewer", 200),
    "volumes.download": ("GET", "/projects/alpha/volumes/data/files/download?path=f.txt", None, "viewer", 200),
    "volumes.archive": ("GET", "/projects/alpha/volumes/data/files/archive", None, "viewer", 200),
    "volumes.upload": ("POST", "/projects/alpha/volumes/data/files/upload?name=up.txt", b"hello", "developer", 201),
    "volumes.folder": ("POST", "/projects/alpha/volumes/data/files/folder", {"path": "", "name": "new"}, "developer", 302),
    "volumes.rename": ("POST", "/projects/alpha/volumes/data/files/rename", {"path": "f.txt", "new": "g.txt"}, "developer", 302),
    "volumes.delete_file": ("POST", "/projects/alpha/volumes/data/files/delete?path=f.txt", {}, "developer", 302),
    # Monitoring: no cluster here (an app's tab answers 503 once the role is checked) and no
    # InfluxDB (a node's page says metrics are not configured); tests/monitoring/ has both.
    "apps.monitoring": ("GET", "/projects/alpha/apps/web/monitoring", None, "viewer", 503),
    "cluster.node_metrics": ("GET", "/cluster/nodes/hm-node1/metrics", None, "admin", 200),
    # Alerts: rules are the portal's rows (no cluster or InfluxDB needed to read or change them).
    "alerts.app_rules": ("GET", "/projects/alpha/apps/web/alerts", None, "viewer", 200),
    "alerts.app_new": ("POST", "/projects/alpha/apps/web/alerts/new", {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.5", "for_": "5m", "enabled": "y"}, "developer", 302),
    "alerts.app_edit": ("POST", "/projects/alpha/apps/web/alerts/{app_rule_id}/edit", {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.9", "for_": "5m", "enabled": "y"}, "developer", 302),
    "alerts.app_delete": ("POST", "/projects/alpha/apps/web/alerts/{app_rule_id}/delete", {}, "developer", 302),
    "alerts.app_history": ("GET", "/projects/alpha/apps/web/alerts/history", None, "viewer", 200),
    "alerts.node_rules": ("GET", "/cluster/nodes/hm-node1/alerts", None, "admin", 200),
    "alerts.node_new": ("POST", "/cluster/nodes/hm-node1/alerts/new", {"kind": "metric", "metric": "disk", "comparison": ">", "threshold": "85", "for_": "5m", "enabled": "y"}, "admin", 302),
    "alerts.node_edit": ("POST", "/cluster/nodes/hm-node1/alerts/{node_rule_id}/edit", {"kind": "metric", "metric": "disk", "comparison": ">", "threshold": "95", "for_": "5m", "enabled": "y"}, "admin", 302),
    "alerts.node_delete": ("POST", "/cluster/nodes/hm-node1/alerts/{node_rule_id}/delete", {}, "admin", 302),
    "dashboard.alerts_card": ("GET", "/dashboard/alerts", None, "login", 200),
    "admin.volume_trash": ("GET", "/admin/volumes/trash", None, "admin", 200),
    "admin.volume_restore": ("POST", "/admin/volumes/trash/{trash_id}/restore", {}, "admin", 503),
    "admin.volume_purge": ("POST", "/admin/volumes/trash/{trash_id}/purge", {}, "admin", 302),
    # API tokens: each person revokes their own ({own_token}); an admin anyone's. The API's
    # own routes (/api/v1) have their matrix in tests/api/test_api_matrix.py.
    "auth.token_create": ("POST", "/profile/tokens", {"name": "ci", "expires": (date.today() + timedelta(days=30)).isoformat(), "ceiling": "viewer", "scope": "all"}, "login", 200),
    "auth.token_revoke": ("POST", "/profile/tokens/{own_token}/revoke", {}, "login", 302),
    "admin.token_list": ("GET", "/admin/tokens", None, "admin", 200),
    "admin.token_revoke": ("POST", "/admin/tokens/{stranger_token}/revoke", {}, "admin", 302),
}

ALLOWED = {
    "guest": {"anonymous"},
    "public": set(ROLES),
    "login": set(ROLES) - {"anonymous"},
    "viewer": {"vic", "dev", "olivia", "root"},
    "developer": {"dev", "olivia", "root"},
    "owner": {"olivia", "root"},
    "admin": {"root"},
}


def expected(level: str, role: str, ok: int) -> int:
    if role in ALLOWED[level]:
        return ok
    if role == "anonymous" or level == "guest":
        return 302  # to the login page, or a logged-in user from it to the dashboard
    if level in ("viewer", "developer", "owner") and role == "stranger":
        return 404
    return 403


# Side effects a refused request must not have, and an allowed one must have.
EFFECTS = {
    "auth.change_language": lambda: db.session.scalar(db.select(User).filter_by(locale="zh_Hans")) is not None,
    "projects.create": lambda: db.session.scalar(db.select(Project).filter_by(name="beta")) is not None,
    "projects.settings": lambda: db.session.scalar(db.select(Project.display_name).filter_by(name="alpha")) == "Alpha 2",
    "projects.delete": lambda: db.session.scalar(db.select(Project).filter_by(name="alpha")) is None,
    "projects.add_member": lambda: db.session.scalar(
        db.select(Membership).join(User).filter(User.username == "stranger")) is not None,
    "projects.change_role": lambda: db.session.scalar(
        db.select(Membership.role).join(User).filter(User.username == "vic")) == "developer",
    "projects.remove_member": lambda: db.session.scalar(
        db.select(Membership).join(User).filter(User.username == "dev")) is None,
    "projects.quota": lambda: db.session.scalar(db.select(Project.quota_pods).filter_by(name="alpha")) == "20",
    "admin.user_new": lambda: db.session.scalar(db.select(User).filter_by(username="newbie")) is not None,
    "admin.user_disable": lambda: db.session.scalar(db.select(User.disabled).filter_by(username="stranger")) is True,
    "admin.user_enable": lambda: db.session.scalar(db.select(User.disabled).filter_by(username="sleeper")) is False,
    "admin.user_password": lambda: db.session.scalar(
        db.select(User).filter_by(username="stranger")).check_password("another-pass-1"),
    "cluster.settings": lambda: db.session.scalar(db.select(ClusterSettings.name)) == "lab",
    "admin.plan_new": lambda: db.session.scalar(db.select(ResourcePlan).filter_by(name="large")) is not None,
    "admin.plan_edit": lambda: db.session.scalar(db.select(ResourcePlan.cpu_request).filter_by(name="small")) == "100m",
    "admin.plan_delete": lambda: db.session.scalar(db.select(ResourcePlan)) is None,
    "images.retention_save": lambda: db.session.scalar(db.select(Project.keep_tags).filter_by(name="alpha")) == 5,
    "images.public_switch": lambda: db.session.scalar(db.select(PublicImage).filter_by(repository="alpha/web")) is not None,
    "volumes.upload": lambda: (_volume_dir() / "up.txt").exists(),
    "volumes.folder": lambda: (_volume_dir() / "new").is_dir(),
    "volumes.rename": lambda: (_volume_dir() / "g.txt").exists(),
    "volumes.delete_file": lambda: not (_volume_dir() / "f.txt").exists(),
    "admin.volume_purge": lambda: db.session.scalar(db.select(TrashedVolume)) is None,
    "alerts.app_new": lambda: db.session.scalar(db.select(AlertRule).filter_by(app="web", threshold_text="0.5")) is not None,
    "alerts.app_edit": lambda: db.session.scalar(db.select(AlertRule.threshold_text).filter_by(app="web")) == "0.9",
    "alerts.app_delete": lambda: db.session.scalar(db.select(AlertRule).filter_by(app="web")) is None,
    "alerts.node_new": lambda: db.session.scalar(db.select(AlertRule).filter_by(node="hm-node1", threshold_text="85")) is not None,
    "alerts.node_edit": lambda: db.session.scalar(db.select(AlertRule.threshold_text).filter_by(node="hm-node1")) == "95",
    "alerts.node_delete": lambda: db.session.scalar(db.select(AlertRule).filter_by(node="hm-node1")) is None,
    "auth.token_create": lambda: db.session.scalar(db.select(ApiToken).filter_by(name="ci")) is not None,
    "admin.token_revoke": lambda: db.session.scalar(
        db.select(ApiToken).join(User).filter(User.username == "stranger")) is None,
}


def _volume_dir() -> Path:
    return Path(current_app.config["NFS_ROOT"]) / "alpha.data"


def _volume(project) -> TrashedVolume:
    """The volume 'data' of alpha with one file, fresh for each request, and a volume of
    alpha in the trash."""
    root = Path(current_app.config["NFS_ROOT"])
    shutil.rmtree(root, ignore_errors=True)
    (root / ".trash" / "alpha.old--1").mkdir(parents=True)
    _volume_dir().mkdir()
    (_volume_dir() / "f.txt").write_bytes(b"file")
    db.session.add(Volume(project_id=project.id, name="data", capacity="1Gi", capacity_bytes=1024 ** 3,
                          directory="alpha.data", usage_bytes=0))
    trashed = TrashedVolume(project_name="alpha", name="old", capacity="1Gi", capacity_bytes=1024 ** 3,
                            trash_name="alpha.old--1")
    db.session.add(trashed)
    return trashed


def test_matrix_covers_every_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if not rule.endpoint.startswith("api.")} - {"static"}
    assert endpoints == set(MATRIX), "add the new route to MATRIX with its level"


def _request(team, make_user, endpoint, role="root"):
    """The rows a route works on, and the route's method, URL, data, level and answer."""
    project, people = team
    sleeper = make_user("sleeper", disabled=True)
    plan = ResourcePlan(name="small", cpu_request="250m", memory_request="256Mi",
                        cpu_limit="500m", memory_limit="512Mi")
    run = ProvisioningRun(run_id="hummer-matrix", kind="plan", orchestration="orch.cluster",
                          status="failed")
    gc_run = RegistryGcRun(dry_run=True, status="succeeded", blobs=2, bytes_freed=2048, started_by="root")
    build = Build(project_id=project.id, repository="alpha/web", tag="1", source="upload", status="failed",
                  message="RUN false: exit status 1")
    tokens = {name: ApiToken(user=user, name="matrix", secret_hash=f"{name:0<64}", ceiling="viewer",
                             expires_at=datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=1))
              for name, user in people.items()}
    app_rule = AlertRule(project_id=project.id, app="web", kind="metric", metric="cpu", comparison=">",
                         threshold=0.25, threshold_text="0.25", for_seconds=300)
    node_rule = AlertRule(node="hm-node1", kind="metric", metric="disk", comparison=">", threshold=80,
                          threshold_text="80", for_seconds=300)
    db.session.add_all([plan, run, gc_run, build, app_rule, node_rule, *tokens.values()])
    trashed = _volume(project)
    db.session.commit()
    ids = {m.user.username: m.id for m in project.memberships}
    method, url, data, level, ok = MATRIX[endpoint]
    url = url.format(vic_member=ids["vic"], dev_member=ids["dev"],
                     stranger_id=people["stranger"].id, sleeper_id=sleeper.id, plan_id=plan.id,
                     run_id=run.id, gc_run_id=gc_run.id, build_id=build.id, trash_id=trashed.id,
                     app_rule_id=app_rule.id, node_rule_id=node_rule.id,
                     own_token=tokens[role if role in tokens else "root"].id,
                     stranger_token=tokens["stranger"].id)
    return method, url, data, level, ok


def _post(web, url, data, csrf=True, headers=None):
    """A form post, or for a row whose data is bytes a raw body (an upload) with the token
    in the X-CSRFToken header, as the page's script sends it."""
    if not isinstance(data, bytes):
        return web.post(url, data, csrf=csrf, headers=headers or {})
    sent = {"Content-Type": "application/octet-stream", **({"X-CSRFToken": web.token()} if csrf else {})}
    return web._send("post", url, data=data, headers={**sent, **(headers or {})})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_route_by_role(web, login, team, make_user, endpoint, role):
    method, url, data, level, ok = _request(team, make_user, endpoint, role)
    if role != "anonymous":
        login(role)
    response = web.get(url) if method == "GET" else _post(web, url, data)
    response.close()  # a download's file, a stream's generator: closed as a server would
    want = expected(level, role, ok)
    assert response.status_code == want, response.get_data(as_text=True)[:300]
    if role == "anonymous" and want == 302:
        assert response.headers["Location"].startswith("/login")
    if endpoint in EFFECTS and endpoint != "auth.logout":
        db.session.expire_all()
        assert EFFECTS[endpoint]() is (role in ALLOWED[level])


@pytest.mark.parametrize("endpoint", sorted(e for e, row in MATRIX.items() if row[0] == "POST"))
def test_every_change_needs_the_csrf_token(web, login, team, make_user, endpoint):
    """CSRFProtect guards every POST, whatever the view reads: an admin (allowed everywhere)
    posting without the token gets 400, and nothing changes."""
    method, url, data, level, ok = _request(team, make_user, endpoint)
    login("root")
    for headers in ({}, {"HX-Request": "true", "X-CSRFToken": "forged"}):
        response = _post(web, url, data, csrf=False, headers=headers)
        assert response.status_code == 400, (headers, response.get_data(as_text=True)[:300])
        assert "CSRF" in response.get_data(as_text=True)
    if endpoint in EFFECTS:
        db.session.expire_all()
        assert EFFECTS[endpoint]() is False
    assert web.get("/profile").status_code == 200  # still logged in: not even the logout ran
