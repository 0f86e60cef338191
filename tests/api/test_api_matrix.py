"""Endpoint-by-token matrix for /api/v1, in the style of tests/test_access_matrix.py: every
endpoint, every kind of token, exactly the expected answer. On the test client: no cluster and
no registry are configured, so an allowed request that needs either answers 503 once the
token's role and scope were checked (tests/apps/test_api_live.py, tests/api/test_api_images.py
and test_api_builds.py drive the same endpoints for real).

Levels: public (no token needed), token (any valid token), viewer (the project in the token's
scope, any role), developer (and the token's ceiling developer too).
A test below fails when an API endpoint is added without a row here.
"""
import shutil
from pathlib import Path

import pytest
from flask import current_app

from portal.extensions import db
from portal.models import AlertRule, Build, Project, Volume
from tests.api.conftest import bearer

pytestmark = pytest.mark.reuse_app

APP = "/api/v1/projects/alpha/apps/web"
SPEC = {"name": "web", "image": "nginx", "tag": "1.27"}
IMAGE = "/api/v1/projects/alpha/images/alpha/web"
TAG = IMAGE + "/-/tags/1.0"
BUILD = "/api/v1/projects/alpha/builds/{build_id}"
GIT_BUILD = {"git_url": "https://git.invalid/shop.git", "git_ref": "main", "name": "web", "tag": "1.0"}
VOL = "/api/v1/projects/alpha/volumes/data"
RULES = APP + "/alerts/rules"
RULE = RULES + "/{rule_id}"
RULE_FIELDS = {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.5", "for_": "5m"}

# endpoint -> (method, url, JSON body (bytes: a raw upload), level, status when allowed)
# The volume 'data' is a row and a directory holding f.txt (no cluster): what needs the
# cluster answers 503, its files answer for real (tests/api/test_api_volumes.py goes further).
MATRIX = {
    "api.openapi": ("GET", "/api/v1/openapi.json", None, "public", 200),
    "api.docs": ("GET", "/api/v1/docs", None, "public", 200),
    "api.project_list": ("GET", "/api/v1/projects", None, "token", 200),
    "api.project_get": ("GET", "/api/v1/projects/alpha", None, "viewer", 200),
    "api.app_list": ("GET", "/api/v1/projects/alpha/apps", None, "viewer", 503),
    "api.app_get": ("GET", APP, None, "viewer", 503),
    "api.app_status": ("GET", APP + "/status?wait=0", None, "viewer", 503),
    "api.app_logs": ("GET", APP + "/logs?tail=10", None, "viewer", 503),
    "api.app_logs_follow": ("GET", APP + "/logs/follow", None, "viewer", 503),
    "api.app_create": ("POST", "/api/v1/projects/alpha/apps", SPEC, "developer", 503),
    "api.app_replace": ("PUT", APP, {"env": [{"name": "A", "value": "1"}]}, "developer", 503),
    "api.app_set_image": ("PUT", APP + "/image", {"image": "nginx", "tag": "1.28"}, "developer", 503),
    "api.app_scale": ("PUT", APP + "/replicas", {"replicas": 2}, "developer", 503),
    "api.app_rollback": ("POST", APP + "/rollback", {"revision": 1}, "developer", 503),
    "api.app_restart": ("POST", APP + "/restart", None, "developer", 503),
    "api.app_stop": ("POST", APP + "/stop", None, "developer", 503),
    "api.app_start": ("POST", APP + "/start", None, "developer", 503),
    "api.app_delete": ("DELETE", APP, None, "developer", 503),
    # No registry is configured: an allowed request that reads it answers 503.
    "api.image_list": ("GET", "/api/v1/projects/alpha/images", None, "viewer", 503),
    "api.image_tags": ("GET", IMAGE + "/-/tags", None, "viewer", 503),
    "api.image_tag": ("GET", TAG, None, "viewer", 503),
    "api.image_tag_plan": ("GET", TAG + "/deletion", None, "developer", 503),
    "api.image_tag_delete": ("DELETE", TAG + "?digest=sha256:" + "0" * 64, None, "developer", 503),
    # Builds are rows of the portal's database: one that failed (so cancel is refused).
    "api.build_list": ("GET", "/api/v1/projects/alpha/builds", None, "viewer", 200),
    "api.build_get": ("GET", BUILD + "?wait=0", None, "viewer", 200),
    "api.build_log": ("GET", BUILD + "/log?tail=5", None, "viewer", 200),
    "api.build_create": ("POST", "/api/v1/projects/alpha/builds", GIT_BUILD, "developer", 503),
    "api.build_cancel": ("POST", BUILD + "/cancel", None, "developer", 422),
    "api.volume_list": ("GET", "/api/v1/projects/alpha/volumes", None, "viewer", 200),
    "api.volume_get": ("GET", VOL, None, "viewer", 200),
    "api.volume_create": ("POST", VOL.rpartition("/")[0], {"name": "v2", "capacity": "1Gi"}, "developer", 503),
    "api.volume_resize": ("PUT", VOL + "/capacity", {"capacity": "2Gi"}, "developer", 503),
    "api.volume_delete": ("DELETE", VOL + "?confirm=data", None, "developer", 503),
    "api.volume_files": ("GET", VOL + "/files?path=", None, "viewer", 200),
    "api.volume_file_download": ("GET", VOL + "/files/content?path=f.txt", None, "viewer", 200),
    "api.volume_file_upload": ("PUT", VOL + "/files/content?path=up.txt", b"hello", "developer", 201),
    "api.volume_file_delete": ("DELETE", VOL + "/files?path=f.txt", None, "developer", 200),
    # The app's metrics need the cluster (when the app began, its autoscaler) and InfluxDB: 503
    # here (tests/api/test_api_monitoring.py reads them for real). Alert rules are the portal's
    # rows, keyed by the app's name: they answer without either. The rule on 'web' has memory > 1Gi.
    "api.app_metrics": ("GET", APP + "/metrics?range=1h", None, "viewer", 503),
    "api.alert_rule_list": ("GET", RULES, None, "viewer", 200),
    "api.alert_rule_get": ("GET", RULE, None, "viewer", 200),
    "api.alert_rule_create": ("POST", RULES, RULE_FIELDS, "developer", 201),
    "api.alert_rule_replace": ("PUT", RULE, {**RULE_FIELDS, "threshold": "0.9"}, "developer", 200),
    "api.alert_rule_update": ("PATCH", RULE, {"enabled": False}, "developer", 200),
    "api.alert_rule_delete": ("DELETE", RULE, None, "developer", 200),
    "api.alert_history": ("GET", APP + "/alerts/history", None, "viewer", 200),
}

# The operations of the OpenAPI document: every endpoint but the document and its page.
OPERATIONS = sum(1 for row in MATRIX.values() if row[3] != "public")

# What an allowed request changes, and a refused one must not.
EFFECTS = {
    "api.volume_file_upload": lambda: _read(_volume_dir() / "up.txt") == b"hello",
    "api.volume_file_delete": lambda: not (_volume_dir() / "f.txt").exists(),
    "api.alert_rule_create": lambda: _rule_thresholds() == ["1Gi", "0.5"],
    "api.alert_rule_replace": lambda: _rule_thresholds() == ["0.9"],
    "api.alert_rule_update": lambda: db.session.scalar(db.select(AlertRule.enabled)) is False,
    "api.alert_rule_delete": lambda: _rule_thresholds() == [],
}


def _rule_thresholds() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AlertRule.threshold_text).order_by(AlertRule.id)))


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def _volume_dir() -> Path:
    return Path(current_app.config["NFS_ROOT"]) / "alpha.data"

# Who calls: (user, the token's ceiling, its scope: None for all projects, else project names)
TOKENS = {
    "none": None,                                 # no Authorization header
    "forged": "forged",                           # a well-formed secret that is no token
    "stranger": ("stranger", "viewer", None),     # a user in no project
    "vic": ("vic", "viewer", None),               # viewer of alpha
    "dev": ("dev", "developer", None),            # developer of alpha
    "dev-viewer": ("dev", "viewer", None),        # a developer's read-only token
    "dev-beta": ("dev", "developer", ["beta"]),   # a developer's token for another project only
    "olivia": ("olivia", "developer", None),      # owner of alpha: the ceiling is developer
    "root": ("root", "developer", None),          # an admin's token: no admin powers, developer
}
ALLOWED = {
    "public": set(TOKENS),
    "token": set(TOKENS) - {"none", "forged"},
    "viewer": {"vic", "dev", "dev-viewer", "olivia", "root"},
    "developer": {"dev", "olivia", "root"},
}


def expected(level: str, who: str, ok: int) -> int:
    if who in ALLOWED[level]:
        return ok
    if who in ("none", "forged"):
        return 401
    if who in ("stranger", "dev-beta"):
        return 404  # the project does not exist for this token
    return 403


def test_matrix_covers_every_api_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert endpoints == set(MATRIX), "add the new API endpoint to MATRIX with its level"


@pytest.fixture
def callers(team, make_user, make_project, make_token):
    project, people = team
    shutil.rmtree(current_app.config["NFS_ROOT"], ignore_errors=True)
    _volume_dir().mkdir(parents=True)
    (_volume_dir() / "f.txt").write_bytes(b"file")
    db.session.add(Volume(project_id=project.id, name="data", capacity="1Gi", capacity_bytes=1024 ** 3,
                          directory="alpha.data", usage_bytes=0))
    db.session.commit()
    make_project("beta", {people["dev"]: "developer"})
    build = Build(project_id=project.id, repository="alpha/web", tag="1", source="git", status="failed",
                  started_by="dev", build_args="{}")
    db.session.add(build)
    db.session.commit()
    rule = AlertRule(project_id=project.id, app="web", kind="metric", metric="memory", comparison=">",
                     threshold=1024.0 ** 3, threshold_text="1Gi", for_seconds=300, created_by="dev")
    db.session.add(rule)
    db.session.commit()
    secrets = {"forged": "hmr_" + "A" * 43, "build_id": build.id, "rule_id": rule.id}
    for who, row in TOKENS.items():
        if isinstance(row, tuple):
            user, ceiling, scope = row
            secrets[who] = make_token(people[user], ceiling, scope)
    return secrets


@pytest.mark.parametrize("who", sorted(TOKENS))
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_endpoint_by_token(client, callers, endpoint, who):
    method, url, body, level, ok = MATRIX[endpoint]
    url = url.replace("{build_id}", str(callers["build_id"])).replace("{rule_id}", str(callers["rule_id"]))
    headers = bearer(callers[who]) if who in callers else {}
    if isinstance(body, bytes):
        response = client.open(url, method=method, data=body, content_type="application/octet-stream",
                               headers=headers)
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    response.close()
    want = expected(level, who, ok)
    assert response.status_code == want, response.get_data(as_text=True)[:300]
    if want >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == want
    if endpoint in EFFECTS:
        assert EFFECTS[endpoint]() is (who in ALLOWED[level])


def test_the_project_list_is_the_tokens_scope(client, callers):
    def names(who):
        return [p["name"] for p in client.get("/api/v1/projects", headers=bearer(callers[who])).get_json()["items"]]
    assert names("dev") == ["alpha", "beta"]
    assert names("dev-beta") == ["beta"]
    assert names("stranger") == []
    roles = {p["name"]: p["role"] for p in
             client.get("/api/v1/projects", headers=bearer(callers["dev-viewer"])).get_json()["items"]}
    assert roles == {"alpha": "viewer", "beta": "viewer"}


def test_lists_are_paginated_with_links(client, make_user, make_project, make_token):
    user = make_user("paula")
    for i in range(5):
        make_project(f"p{i}", {user: "viewer"})
    secret = make_token(user, "viewer")
    first = client.get("/api/v1/projects?per_page=2", headers=bearer(secret)).get_json()
    assert [p["name"] for p in first["items"]] == ["p0", "p1"] and first["total"] == 5
    assert first["links"]["prev"] is None
    second = client.get(first["links"]["next"], headers=bearer(secret)).get_json()
    assert [p["name"] for p in second["items"]] == ["p2", "p3"]
    assert client.get("/api/v1/projects?per_page=1000", headers=bearer(secret)).status_code == 422


def test_a_deleted_projects_id_is_not_inherited(client, team, make_project, make_token):
    """A token scoped to a project keeps no claim on a later project that gets its id."""
    project, people = team
    gone = make_project("gone", {people["dev"]: "developer"})
    secret = make_token(people["dev"], "developer", ["gone"])
    db.session.delete(gone)
    db.session.commit()
    make_project("later", {people["dev"]: "developer"})
    assert client.get("/api/v1/projects", headers=bearer(secret)).get_json()["items"] == []
    assert client.get("/api/v1/projects/later", headers=bearer(secret)).status_code == 404
    assert db.session.scalar(db.select(Project).filter_by(name="later")) is not None


def test_the_token_is_rate_limited_with_retry_after(app, client, team, make_token):
    project, people = team
    app.config["API_RATE_LIMIT"] = "3 per minute"
    try:
        secret = make_token(people["dev"])
        answers = [client.get("/api/v1/projects", headers=bearer(secret)) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert int(answers[-1].headers["Retry-After"]) > 0
        assert answers[-1].mimetype == "application/problem+json"
        # another token of the same user has its own allowance
        assert client.get("/api/v1/projects", headers=bearer(make_token(people["dev"]))).status_code == 200
    finally:
        app.config["API_RATE_LIMIT"] = "300 per minute"
        from portal.extensions import limiter
        limiter.reset()
