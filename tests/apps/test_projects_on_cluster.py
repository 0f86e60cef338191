"""Projects on the cluster: namespace, ResourceQuota and LimitRange on create, quota
edits, delete listing what goes and leaving nothing behind, and pages that keep working
(with a banner) when the cluster is unreachable."""
from __future__ import annotations

import html
import uuid

import pytest
from kubernetes import client

from portal.extensions import db
from portal.models import Project
from tests.apps.conftest import deploy_form, wait_for
from tests.support.kube_cluster import free_port, write_kubeconfig
from tests.support.web import error_beside, text

pytestmark = pytest.mark.kube


def project_row(name):
    db.session.expire_all()
    return db.session.scalar(db.select(Project).filter_by(name=name))


def test_create_quota_and_delete_on_the_cluster(kube_app, kube_cluster, kube_api, plan, make_user, login, web):
    core = client.CoreV1Api(kube_api)
    make_user("ann")
    login("ann")
    name = f"c-{uuid.uuid4().hex[:8]}"
    assert web.post("/projects/new", {"name": name}).status_code == 302
    ns = core.read_namespace(name)
    assert ns.metadata.labels["hummer.io/project"] == name
    assert ns.metadata.labels["app.kubernetes.io/managed-by"] == "hummer"
    limits = core.read_namespaced_limit_range("hummer-limits", name).spec.limits[0]
    assert limits.default_request == {"cpu": "100m", "memory": "128Mi"} and limits.default["memory"] == "256Mi"
    # no quota yet: no (empty) ResourceQuota either
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_resource_quota("hummer-quota", name)
    assert missing.value.status == 404

    response = web.post(f"/projects/{name}/quota", {"quota_cpu": "lots", "quota_memory": "4Gi", "quota_pods": "20"})
    assert response.status_code == 422
    assert "not a Kubernetes quantity" in error_beside(text(response), "quota_cpu")
    response = web.post(f"/projects/{name}/quota", {"quota_cpu": "2", "quota_memory": "4Gi", "quota_pods": "0"})
    assert "whole number" in error_beside(text(response), "quota_pods")
    assert web.post(f"/projects/{name}/quota", {"quota_cpu": "2", "quota_memory": "4Gi",
                                                "quota_pods": "20"}).status_code == 302
    hard = core.read_namespaced_resource_quota("hummer-quota", name).spec.hard
    assert hard == {"requests.cpu": "2", "requests.memory": "4Gi", "pods": "20"}
    assert web.post(f"/projects/{name}/quota", {"quota_cpu": "", "quota_memory": "4Gi",
                                                "quota_pods": ""}).status_code == 302
    assert core.read_namespaced_resource_quota("hummer-quota", name).spec.hard == {"requests.memory": "4Gi"}
    assert project_row(name).quota_memory == "4Gi"
    # cleared altogether: the ResourceQuota goes; set again: it comes back
    assert web.post(f"/projects/{name}/quota", {"quota_cpu": "", "quota_memory": "",
                                                "quota_pods": ""}).status_code == 302
    assert [q.metadata.name for q in core.list_namespaced_resource_quota(name).items] == []
    assert web.post(f"/projects/{name}/quota", {"quota_cpu": "", "quota_memory": "4Gi",
                                                "quota_pods": ""}).status_code == 302
    assert core.read_namespaced_resource_quota("hummer-quota", name).spec.hard == {"requests.memory": "4Gi"}

    wait_for(lambda: kube_cluster.service_account_ready(name), what="service account")
    assert web.post(f"/projects/{name}/apps/new", deploy_form("web", replicas=1)).status_code == 302
    page = html.unescape(text(web.get(f"/projects/{name}/delete")))
    assert "app web" in page
    assert web.post(f"/projects/{name}/delete", {"confirm": name}).status_code == 302
    assert project_row(name) is None

    def gone():
        try:
            return core.read_namespace(name).status.phase == "Terminating"
        except client.ApiException as e:
            return e.status == 404
    assert gone()
    wait_for(lambda: not client.AppsV1Api(kube_api).list_namespaced_deployment(name).items
             or gone(), what="apps going")


def test_a_foreign_namespace_is_not_taken_over(kube_app, kube_api, make_user, login, web):
    core = client.CoreV1Api(kube_api)
    name = f"f-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        make_user("ann")
        login("ann")
        response = web.post("/projects/new", {"name": name})
        assert response.status_code == 422
        assert "already exists in the cluster and is not Hummer's" in error_beside(text(response), "name")
        assert project_row(name) is None
        assert "hummer.io/project" not in (core.read_namespace(name).metadata.labels or {})
    finally:
        core.delete_namespace(name)


@pytest.fixture
def unreachable(app, tmp_path, kube_cluster):
    """A kubeconfig pointing at a loopback port nobody listens on."""
    path = write_kubeconfig(tmp_path / "dead.kubeconfig", f"https://127.0.0.1:{free_port()}", "token",
                            kube_cluster.ca_file.read_bytes())
    app.config["KUBECONFIG"] = str(path)
    return path


def test_unreachable_cluster_gives_banners_not_500(unreachable, make_user, make_project, login, web):
    from portal.models import Role
    ann = make_user("ann")
    make_project("here", {ann: Role.OWNER})
    login("ann")
    for url in ("/projects/here", "/projects/here/apps"):
        response = web.get(url)
        assert response.status_code == 200
        assert "The Kubernetes cluster is not reachable" in html.unescape(text(response))
    response = web.post("/projects/new", {"name": "there"})
    assert response.status_code == 422
    assert "The project was not created" in html.unescape(text(response))
    assert project_row("there") is None
    response = web.get("/projects/here/apps/web")
    assert response.status_code == 503 and "not reachable" in text(response)
    response = web.post("/projects/here/delete", {"confirm": "here"})
    assert response.status_code == 422 and "The project was not deleted" in html.unescape(text(response))
    assert project_row("here") is not None


def test_no_cluster_configured_projects_still_work(app, make_user, login, web):
    make_user("ann")
    login("ann")
    assert web.post("/projects/new", {"name": "solo"}).status_code == 302
    page = html.unescape(text(web.get("/projects/solo")))
    assert "No Kubernetes cluster is configured" in page
    assert web.get("/projects/solo/apps").status_code == 200
