"""Deploying apps through the form, against the real API server: what lands in the
cluster, "Show YAML" accepted by kubectl, rollback of a failed step, and a few bad inputs
explained beside their field (all of them, without a cluster: test_bad_input_parse.py)."""
from __future__ import annotations

import html
import re

import pytest
from kubernetes import client

from portal.extensions import db
from portal.models import AuditEvent
from tests.apps.conftest import deploy_form, wait_for
from tests.support.web import error_beside, text

pytestmark = pytest.mark.kube


def test_deploy_creates_deployment_services_and_hpa(kproject, login, web, kube_api, apps_api, core_api):
    ns = kproject.name
    login("dev")
    data = deploy_form(
        "shop", replicas=2, **{
            "ports-1-name": "", "ports-1-protocol": "UDP", "ports-1-container_port": "5353",
            "ports-1-exposure": "external", "ports-1-node_port": "31234",
            "env-1-name": "DB_PASSWORD", "env-1-source": "secret", "env-1-secret": "db", "env-1-key": "password",
            "command": "/bin/web --port 8080", "args": "-v 'two words'", "workdir": "/srv",
            "liveness-kind": "tcp", "liveness-port": "8080", "session_affinity": "y",
            "autoscale": "y", "min_replicas": "2", "max_replicas": "5", "cpu_target": "60"})
    response = web.post(f"/projects/{ns}/apps/new", data)
    assert response.status_code == 302, text(response)[-3000:]
    assert response.headers["Location"] == f"/projects/{ns}/apps/shop"

    d = apps_api.read_namespaced_deployment("shop", ns)
    c = d.spec.template.spec.containers[0]
    assert d.spec.replicas == 2 and c.image == "hummer/web:1.0"
    assert d.metadata.labels["app.kubernetes.io/managed-by"] == "hummer"
    assert [(p.name, p.container_port, p.protocol) for p in c.ports] == [
        ("http", 8080, "TCP"), ("udp-5353", 5353, "UDP")]
    assert c.env[0].name == "GREETING" and c.env[0].value == "hello"
    assert c.env[1].value_from.secret_key_ref.name == "db" and c.env[1].value_from.secret_key_ref.key == "password"
    assert c.command == ["/bin/web", "--port", "8080"] and c.args == ["-v", "two words"] and c.working_dir == "/srv"
    assert c.readiness_probe.http_get.path == "/healthz" and c.liveness_probe.tcp_socket.port == 8080
    assert c.resources.requests == {"cpu": "100m", "memory": "128Mi"}  # the plan
    internal = core_api.read_namespaced_service("shop", ns)
    external = core_api.read_namespaced_service("shop-ext", ns)
    assert internal.spec.type == "ClusterIP" and [p.port for p in internal.spec.ports] == [8080]
    assert external.spec.type == "NodePort" and external.spec.ports[0].node_port == 31234
    assert internal.spec.session_affinity == "ClientIP"
    hpa = client.AutoscalingV1Api(kube_api).read_namespaced_horizontal_pod_autoscaler("shop", ns)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas, hpa.spec.target_cpu_utilization_percentage) == (2, 5, 60)
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="app.deploy"))
    assert event.object_name == "shop" and event.project_name == ns and event.actor_name == "dev"

    # the pods are scheduled (the secret is missing, so the simulated kubelet still starts them)
    wait_for(lambda: (apps_api.read_namespaced_deployment_status("shop", ns).status.ready_replicas or 0) == 2,
             what="2 ready replicas")
    page = text(web.get(f"/projects/{ns}/apps/shop"))
    assert internal.spec.cluster_ip in page and "31234" in page and "autoscaling 2–5 at 60% CPU" in page
    pods = core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=shop").items
    for p in pods:
        assert p.metadata.name in page and p.spec.node_name in page and p.status.pod_ip in page


def test_list_is_filtered_and_paginated_on_the_server(kproject, app, login, web, apps_api):
    ns = kproject.name
    login("dev")
    for name in ("api", "web-a", "web-b"):
        assert web.post(f"/projects/{ns}/apps/new", deploy_form(name, replicas=1)).status_code == 302
    app.config["PAGE_SIZE"] = 2
    first = text(web.get(f"/projects/{ns}/apps"))
    assert ">api<" in first and ">web-a<" in first and ">web-b<" not in first and "Page 1 of 2 (3)" in first
    rows = text(web.get(f"/projects/{ns}/apps?q=web-", htmx="app-rows"))
    assert "<html" not in rows and ">web-a<" in rows and ">web-b<" in rows and ">api<" not in rows
    wait_for(lambda: "1/1" in text(web.get(f"/projects/{ns}/apps?q=api", htmx="app-rows")), what="api 1/1")
    rows = text(web.get(f"/projects/{ns}/apps?q=api", htmx="app-rows"))
    assert "running" in rows and "<code>hummer/web:1.0</code>" in rows
    assert "No app matches." in text(web.get(f"/projects/{ns}/apps?q=zzz", htmx="app-rows"))


def test_show_yaml_is_exactly_what_kubectl_accepts(kproject, kube_cluster, login, web, apps_api):
    ns = kproject.name
    login("dev")
    data = deploy_form("yamly", **{"op": "yaml", "ports-0-exposure": "external", "autoscale": "y"})
    response = web.post(f"/projects/{ns}/apps/new", data)
    assert response.status_code == 200
    yaml_text = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", text(response), re.S).group(1))
    assert ("kind: Deployment" in yaml_text and "kind: Service" in yaml_text
            and "kind: HorizontalPodAutoscaler" in yaml_text)
    assert apps_api.list_namespaced_deployment(ns).items == []  # nothing was sent
    dry = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml_text, check=False)
    assert dry.returncode == 0, dry.stderr
    applied = kube_cluster.kubectl("apply", "-f", "-", input=yaml_text, check=False)
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/yamly created" in applied.stdout and "service/yamly-ext created" in applied.stdout
    # the objects kubectl made show up in the portal like any other app
    wait_for(lambda: "yamly" in text(web.get(f"/projects/{ns}/apps", htmx="app-rows")), what="listed")


def test_a_failed_step_removes_the_earlier_ones(kproject, login, web, apps_api, core_api):
    ns = kproject.name
    login("dev")
    taken = {"ports-0-exposure": "external", "ports-0-node_port": "31999"}
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("first", **taken)).status_code == 302
    response = web.post(f"/projects/{ns}/apps/new", deploy_form("second", **taken))
    assert response.status_code == 422
    page = text(response)
    assert "Creating the Service second-ext failed" in html.unescape(page)
    assert "Nothing was kept: Deployment second removed again." in html.unescape(page)
    assert "already allocated" in error_beside(page, "ports-0-node_port")
    assert 'value="second"' in page  # what the user typed is still there
    names = [d.metadata.name for d in apps_api.list_namespaced_deployment(ns).items]
    assert names == ["first"]
    assert [s.metadata.name for s in core_api.list_namespaced_service(ns).items] == ["first-ext"]


def test_an_existing_app_name_is_explained(kproject, login, web):
    ns = kproject.name
    login("dev")
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("twice")).status_code == 302
    response = web.post(f"/projects/{ns}/apps/new", deploy_form("twice"))
    assert response.status_code == 422
    assert error_beside(text(response), "name") == "An app named 'twice' already exists in this project."


def test_adding_rows_keeps_what_was_typed(kproject, login, web):
    login("dev")
    response = web.post(f"/projects/{kproject.name}/apps/new", deploy_form("rows", op="add-port"), htmx="app-form")
    page = text(response)
    assert response.status_code == 200 and page.lstrip().startswith('<form id="app-form"')
    assert 'id="ports-1-container_port"' in page and 'value="rows"' in page and 'value="8080"' in page


# The deploy form's bad input is judged by services.apps.parse() before any call to the
# cluster: tests/apps/test_bad_input_parse.py runs all those cases without one. These few
# go through the real namespace too (a top field, a repeated row, a plan from the database,
# a nested probe field).
ON_CLUSTER = [
    ({"name": "Web_App"}, "name", "DNS-1123 label"),
    ({"ports-1-container_port": "8080", "ports-1-name": "again"}, "ports-1-container_port",
     "Port 8080/TCP is listed twice."),
    ({"plan": "huge"}, "plan", "No plan named 'huge'."),
    ({"readiness-kind": "http", "readiness-path": "healthz"}, "readiness-path", "starts with '/'"),
]


@pytest.mark.parametrize("changes, field, message", ON_CLUSTER, ids=[f"{f}:{m[:20]}" for _, f, m in ON_CLUSTER])
def test_bad_input_is_explained_beside_the_field(kproject, login, web, apps_api, changes, field, message):
    login("dev")
    data = deploy_form("web")
    data.update(changes)
    response = web.post(f"/projects/{kproject.name}/apps/new", data, htmx="app-form")
    assert response.status_code == 422
    assert message in error_beside(text(response), field), text(response)[:3000]
    assert apps_api.list_namespaced_deployment(kproject.name).items == []


def test_viewer_cannot_deploy(kproject, login, web, apps_api):
    login("vic")
    assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form("web")).status_code == 403
    assert apps_api.list_namespaced_deployment(kproject.name).items == []
