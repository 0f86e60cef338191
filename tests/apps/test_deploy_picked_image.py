"""Deploying an image picked from the deploy form's list (the project's own registry image,
as its full pull name) onto the real test cluster: the Deployment runs exactly that name."""
from __future__ import annotations

import pytest

from tests.apps.conftest import deploy_form
from tests.images.manage_support import push, record, use_registry
from tests.support.html import find
from tests.support.web import text

pytestmark = pytest.mark.kube


def test_deploy_the_image_picked_from_the_list(kube_app, registries, kproject, tmp_path, login, web, apps_api):
    server = registries["open"]
    use_registry(kube_app, server)
    repo = f"{kproject.name}/web"
    record(kproject, repo, "3.1", push(server, tmp_path, repo, "3.1"), 1)
    login("dev")
    page = text(web.get(f"/projects/{kproject.name}/apps/new"))
    [chosen] = [o.get("value") for o in find(page, "datalist", id="image-suggestions").find_all("option")]
    assert chosen == f"{server.host}/{repo}:3.1"

    response = web.post(f"/projects/{kproject.name}/apps/new", deploy_form("picked", image=chosen, tag=""))
    assert response.status_code == 302, text(response)[-2000:]
    deployment = apps_api.read_namespaced_deployment("picked", kproject.name)
    assert deployment.spec.template.spec.containers[0].image == chosen
