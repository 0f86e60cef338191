"""The automation API as CI uses it, through gunicorn on the real test cluster:

- end to end: a token made on the profile page, an app deployed, the README's "Deploy from CI"
  step run as written with bash and curl (set the image, wait for the rollout), the logs read,
  the token revoked, and the next call 401;
- Schemathesis from the OpenAPI document, with a real token, against the live API: no 5xx,
  no answer that disagrees with the schema (bounded: a few examples per operation).
"""
from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from portal.extensions import db
from portal.models import ApiToken, AuditEvent
from portal.services import projects, tokens
from portal.services.context import Actor
from tests.api.test_api_matrix import OPERATIONS
from tests.apps.conftest import ready
from tests.conftest import PASSWORD
from tests.support import html
from tests.support.live_portal import live_portal
from tests.support.registry import oci_layout

README = Path(__file__).resolve().parents[2] / "README.md"
SPEC = {"name": "web", "image": "hummer/web", "tag": "1.0", "replicas": 2, "plan": "small",
        "ports": [{"name": "http", "container_port": 8080}],
        "env": [{"name": "GREETING", "value": "hello"}],
        "readiness": {"kind": "http", "path": "/healthz", "port": 8080}}


def readme_ci_step() -> str:
    """The bash block under the README's ci-example marker, as written."""
    match = re.search(r"<!-- ci-example[^>]*-->\s*```bash\n(.*?)```", README.read_text(), re.S)
    assert match, "the README's Deploy from CI block is missing"
    return match.group(1)


def _portal(database_url, tmp_path, kube_cluster, **settings):
    return live_portal(database_url, tmp_path, workers=1, threads=4, KUBECONFIG=str(kube_cluster.kubeconfig),
                       LOG_FOLLOW_SECONDS="3", **settings)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's step needs curl")
def test_ci_deploys_with_a_token_then_the_revoked_token_is_refused(
        kproject, kube_cluster, apps_api, core_api, kubelet, database_url, tmp_path):
    ns = kproject.name
    with _portal(database_url, tmp_path, kube_cluster) as portal:
        browser = portal.client()
        assert browser.login("dev", PASSWORD).status_code == 302
        made = browser.post("/profile/tokens", {
            "csrf_token": browser.token("/profile"), "name": "ci-deploy", "ceiling": "developer",
            "scope": "chosen", "projects": ns, "expires": (date.today() + timedelta(days=7)).isoformat()})
        assert made.status_code == 200, made.text[:500]
        secret = html.find(made.text, "code", id="new-token-secret").text
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {secret}"
        base = f"{portal.base}/api/v1/projects/{ns}/apps"

        created = api.post(base, json=SPEC, timeout=60)
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "web"
        status = api.get(f"{base}/web/status?wait=60", timeout=90).json()
        assert status["done"] and status["status"] == "running" and status["ready"] == 2, status

        # The README's step, as written, with what CI would set.
        env = {"PATH": "/usr/bin:/bin", "HUMMER": portal.base, "HUMMER_TOKEN": secret, "PROJECT": ns,
               "APP": "web", "IMAGE": "hummer/web", "TAG": "2.0"}
        step = subprocess.run(["bash", "-c", readme_ci_step()], env=env, capture_output=True, text=True,
                              timeout=300)
        assert step.returncode == 0, step.stdout + step.stderr
        assert "rolled out" in step.stdout
        image = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].image
        assert image == "hummer/web:2.0"
        ready(apps_api, ns, "web", 2)

        # A change based on an old read of the app is a 409 that says where the app is now.
        now = api.get(f"{base}/web", timeout=60).json()
        stale = api.put(f"{base}/web/image", json={"image": "hummer/web", "tag": "3.0", "version": "old-read"},
                        timeout=60)
        assert stale.status_code == 409 and stale.headers["Content-Type"] == "application/problem+json"
        assert (stale.json()["generation"], stale.json()["version"]) == (now["generation"], now["version"])

        listed = core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=web").items
        pods = sorted(p.metadata.name for p in listed if p.metadata.deletion_timestamp is None)
        kubelet.write_log(ns, pods[0], "web", "deployed by CI")
        lines = api.get(f"{base}/web/logs?tail=50", timeout=60).json()["lines"]
        assert any(line["line"] == "deployed by CI" and line["pod"] == pods[0] for line in lines), lines
        # follow: NDJSON as the pods print (read until the line comes; closing ends the stream)
        with api.get(f"{base}/web/logs/follow?pod={pods[1]}", stream=True, timeout=30) as followed:
            assert followed.status_code == 200 and followed.headers["Content-Type"] == "application/x-ndjson"
            kubelet.write_log(ns, pods[1], "web", "followed by CI")
            got = []
            for line in followed.iter_lines():  # the simulated pod prints lines of its own too
                got.append(json.loads(line))
                if got[-1].get("line") == "followed by CI" or len(got) > 200:
                    break
        assert got[-1] == {"pod": pods[1], "line": "followed by CI"}, got[-5:]

        db.session.rollback()  # see what gunicorn committed
        event = db.session.scalar(db.select(AuditEvent).filter_by(action="app.image"))
        assert (event.actor_name, event.via_token, event.detail) == ("dev", "ci-deploy",
                                                                     "hummer/web:1.0 -> hummer/web:2.0")

        # Replacing the settings: refused on an old read, done on the current one.
        settings = {k: v for k, v in SPEC.items() if k not in ("name", "image", "tag", "replicas")}
        settings["env"] = [{"name": "GREETING", "value": "from CI"}]
        stale = api.put(f"{base}/web", json={**settings, "version": "old-read"}, timeout=60)
        assert stale.status_code == 409 and stale.json()["version"] == now["version"], stale.text
        assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].env[0].value == "hello"
        replaced = api.put(f"{base}/web", json={**settings, "version": now["version"]}, timeout=60)
        assert replaced.status_code == 200 and replaced.json()["version"] != now["version"], replaced.text
        container = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0]
        assert [(e.name, e.value) for e in container.env] == [("GREETING", "from CI")]

        token_id = db.session.scalar(db.select(ApiToken.id).filter_by(name="ci-deploy"))
        revoked = browser.post(f"/profile/tokens/{token_id}/revoke", {"csrf_token": browser.token("/profile")})
        assert revoked.status_code == 302
        refused = api.get(f"{base}/web", timeout=60)
        assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"


def test_schemathesis_finds_no_server_error_and_no_schema_disagreement(
        kproject, kube_cluster, apps_api, database_url, tmp_path, app, registries, influx_empty):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    ns = kproject.name
    people = {m.user.username: m.user for m in kproject.memberships}
    # Bounded: generated specs and scales land in a project of at most 6 pods.
    projects.set_quota(kproject, "", "", "6", by=Actor(people["olivia"]))
    secret = tokens.create("fuzz", date.today() + timedelta(days=1), "developer", True, [],
                           by=Actor(people["dev"])).secret
    headers = {"Authorization": f"Bearer {secret}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    # The images and builds endpoints on a real registry, with one image to read.
    registries["open"].push(oci_layout(tmp_path / "image", [{"hello": b"fuzz\n"}]), f"{ns}/web:1.0")
    export = tmp_path / "export"
    export.mkdir()
    with _portal(database_url, tmp_path, kube_cluster, API_RATE_LIMIT="100000 per minute",
                 API_ADDRESS_RATE_LIMIT="100000 per minute", API_WAIT_MAX="1", NFS_ROOT=str(export),
                 NFS_SERVER="10.0.1.250:/hummer", REGISTRY_URL=registries["open"].url,
                 BUILD_GIT_TIMEOUT="5", INFLUXDB_URL=influx_empty.url, INFLUXDB_DATABASE=influx_empty.database,
                 ALERT_INTERVAL="3600") as portal:  # no evaluation (nor webhook) of the fuzzed rules
        created = requests.post(f"{portal.base}/api/v1/projects/{ns}/apps", json={**SPEC, "replicas": 1},
                                headers=headers, timeout=60)
        assert created.status_code == 201, created.text
        volume = f"{portal.base}/api/v1/projects/{ns}/volumes"
        made = requests.post(volume, json={"name": "data", "capacity": "1Gi"}, headers=headers, timeout=60)
        assert made.status_code == 201, made.text
        put = requests.put(f"{volume}/data/files/content?path=hello.txt", data=b"hello\n", headers={
            **headers, "Content-Type": "application/octet-stream"}, timeout=60)
        assert put.status_code == 201, put.text
        rule = requests.post(f"{portal.base}/api/v1/projects/{ns}/apps/web/alerts/rules", headers=headers,
                             json={"kind": "metric", "metric": "cpu", "threshold": "0.5"}, timeout=60)
        assert rule.status_code == 201, rule.text
        schema = schemathesis.openapi.from_url(f"{portal.base}/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == OPERATIONS  # every decorated endpoint of tests/api/test_api_matrix.py
        session = requests.Session()
        seen = set()
        cases = collections.Counter()  # per operation: every other case, the first among them, is real
        for operation in operations:
            @settings(max_examples=6, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case):
                cases[case.operation.label] += 1
                if cases[case.operation.label] % 2 == 1:  # on the real project and app, not random names
                    params = case.path_parameters or {}
                    if "name" in params:
                        params["name"] = ns
                    if "app" in params and case.method != "DELETE":  # the app stays for the others
                        params["app"] = "web"
                    if "repository" in params:
                        params["repository"] = f"{ns}/web"
                    if "tag" in params and case.method != "DELETE":  # the tag stays too
                        params["tag"] = "1.0"
                    if "rule_id" in params:  # the rule stays too
                        kept = rule.json()["id"]
                        if case.method != "DELETE":
                            params["rule_id"] = kept
                        elif params["rule_id"] == kept:
                            params["rule_id"] = kept + 1
                    if case.path.endswith("/metrics"):
                        case.query = {"range": "1h"}
                    if "volume" in params:  # its confirmation is not generated: the volume stays
                        params["volume"] = "data"
                    if case.method == "GET" and case.path.endswith("/files/content"):
                        case.query = {**(case.query or {}), "path": "hello.txt"}
                if case.path.endswith("/follow"):
                    case.query = {**(case.query or {}), "seconds": 1}
                response = case.call(base_url=portal.base, session=session, headers=headers, timeout=60)
                seen.add((case.operation.label, response.status_code))
                case.validate_response(response, checks=checks)
            check()
        assert "Traceback" not in portal.log()
    # It reached the real code paths: answers from the real app, and the services' refusals.
    statuses = {status for _label, status in seen}
    assert {200, 404, 422} <= statuses, sorted(seen)
    assert ("GET /api/v1/projects/{name}/apps/{app}", 200) in seen
    assert ("GET /api/v1/projects/{name}/images/{repository}/-/tags/{tag}", 200) in seen
    assert ("GET /api/v1/projects/{name}/volumes/{volume}/files/content", 200) in seen
    assert ("GET /api/v1/projects/{name}/apps/{app}/metrics", 200) in seen  # the suite's InfluxDB answered
    assert ("GET /api/v1/projects/{name}/apps/{app}/alerts/rules/{rule_id}", 200) in seen
