"""A pushed build rolls an app out to its tag: the build's page offers the project's apps that
run the same repository, and the update goes through the apps service to the real API server."""
from __future__ import annotations

import io

import pytest

from portal.extensions import db
from portal.models import AuditEvent, Build
from tests.apps.conftest import deploy_form, ready
from tests.builds.test_portal_builds import tar_gz
from tests.images.test_upload_deploy_browser import in_the_registry
from tests.support.waiting import wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube


def build(web, ns: str, base: str, tag: str) -> Build:
    context = tar_gz({"Dockerfile": f"FROM {base}\nRUN echo {tag} > /version\n"})
    response = web.post(f"/projects/{ns}/builds/new", {
        "source": "upload", "name": "web", "tag": tag, "dockerfile": "Dockerfile",
        "context": (io.BytesIO(context), "ctx.tar.gz")}, content_type="multipart/form-data")
    assert response.status_code == 302, text(response)[:2000]
    build_id = int(response.headers["Location"].rsplit("/", 1)[1])

    def pushed():
        db.session.commit()
        found = db.session.get(Build, build_id)
        assert found.status not in ("failed", "cancelled"), found.message
        return found if found.status == "pushed" else None
    return wait_for(pushed, timeout=120, what=f"build of {tag} to push")


def test_a_pushed_build_updates_an_app_to_its_tag(kube_app, kproject, kubelet, registries, busybox_base, apps_api,
                                                   login, web):
    server = registries["open"]
    kube_app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    kubelet.registry_checker = in_the_registry(server)
    ns = kproject.name
    login("dev")
    first = build(web, ns, busybox_base, "1.0")
    response = web.post(f"/projects/{ns}/apps/new", deploy_form("web", image=f"{server.host}/{ns}/web", tag="1.0",
                                                                  replicas=1, **{"readiness-kind": "none"}))
    assert response.status_code == 302, text(response)[-2000:]
    ready(apps_api, ns, "web", 1)
    page = text(web.get(f"/projects/{ns}/builds/{first.id}"))
    assert 'id="update-app"' in page and '<option value="web">web</option>' in page

    second = build(web, ns, busybox_base, "2.0")
    response = web.post(f"/projects/{ns}/builds/{second.id}/update-app", {"app": "web"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/projects/{ns}/apps/web")
    image = f"{server.host}/{ns}/web:2.0"
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].image == image
    ready(apps_api, ns, "web", 1)
    detail = db.session.scalar(db.select(AuditEvent.detail).filter_by(action="app.image"))
    assert detail == f"{server.host}/{ns}/web:1.0 -> {image}"
    # A name the project has no app of is refused.
    assert web.post(f"/projects/{ns}/builds/{second.id}/update-app", {"app": "nope"}).status_code == 404
    assert web.post(f"/projects/{ns}/builds/{second.id}/update-app", {"app": ".."}).status_code == 404
