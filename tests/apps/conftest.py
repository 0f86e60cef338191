"""Fixtures for the app tests: the portal pointed at the real test cluster, and a
project whose namespace exists there (made by the portal's own provisioning)."""
from __future__ import annotations

import uuid

import pytest
from kubernetes import client

from portal.extensions import db
from portal.models import ResourcePlan, Role
from portal.services import projects
from tests.support.html import form_data  # noqa: F401 (used by the tests)
from tests.support.kube_fixtures import delete_namespace
from tests.support.waiting import wait_for  # noqa: F401 (wait_for: used by the tests)
from tests.support.web import text


@pytest.fixture
def kube_app(app, kube_cluster):
    """The portal app with HUMMER_KUBECONFIG set to the test cluster."""
    app.config["KUBECONFIG"] = str(kube_cluster.kubeconfig)
    return app


@pytest.fixture
def plan(app):
    small = ResourcePlan(name="small", cpu_request="100m", memory_request="128Mi",
                         cpu_limit="500m", memory_limit="256Mi", is_default=True)
    db.session.add(small)
    db.session.commit()
    return small


@pytest.fixture
def kproject(kube_app, kube_cluster, kube_api, make_user, make_project, plan):
    """A project 'p-xxxxxx' with olivia (owner), dev (developer), vic (viewer), stranger,
    root (admin); its namespace, quota and limits made by projects.provision()."""
    people = {name: make_user(name) for name in ("olivia", "dev", "vic", "stranger")}
    people["root"] = make_user("root", admin=True)
    name = f"p-{uuid.uuid4().hex[:8]}"
    project = make_project(name, {people["olivia"]: Role.OWNER, people["dev"]: Role.DEVELOPER,
                                  people["vic"]: Role.VIEWER})
    projects.provision(project)
    wait_for(lambda: kube_cluster.service_account_ready(name), what="default ServiceAccount")
    try:
        yield project
    finally:
        delete_namespace(kube_api, name)


@pytest.fixture
def apps_api(kube_api):
    return client.AppsV1Api(kube_api)


@pytest.fixture
def core_api(kube_api):
    return client.CoreV1Api(kube_api)


def deploy_form(name: str, image: str = "hummer/web", tag: str = "1.0", replicas: int = 2, **extra) -> dict:
    """The deploy form's fields as the browser posts them (one port row, one env row)."""
    data = {
        "name": name, "image": image, "tag": tag, "replicas": str(replicas), "plan": "small",
        "ports-0-name": "http", "ports-0-protocol": "TCP", "ports-0-container_port": "8080",
        "ports-0-exposure": "internal", "ports-0-node_port": "",
        "env-0-name": "GREETING", "env-0-source": "plain", "env-0-value": "hello",
        "env-0-secret": "", "env-0-key": "",
        "readiness-kind": "http", "readiness-path": "/healthz", "readiness-port": "8080",
        "liveness-kind": "none", "min_replicas": "1", "max_replicas": "3", "cpu_target": "80",
        "op": "deploy",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def ready(apps_api, ns, name, count):
    def probe():
        d = apps_api.read_namespaced_deployment_status(name, ns)
        s = d.status
        return (d.spec.replicas == count and (s.ready_replicas or 0) == count and (s.updated_replicas or 0) == count
                and (s.replicas or 0) == count and (s.observed_generation or 0) >= d.metadata.generation)
    wait_for(probe, timeout=60, what=f"{name} at {count} ready")


@pytest.fixture
def running(kproject, login, web, apps_api):
    """An app 'web' (hummer/web:1.0, 2 replicas) running, and the developer logged in."""
    login("dev")
    response = web.post(f"/projects/{kproject.name}/apps/new", deploy_form("web", replicas=2))
    assert response.status_code == 302, text(response)[-2000:]
    ready(apps_api, kproject.name, "web", 2)
    return kproject.name
