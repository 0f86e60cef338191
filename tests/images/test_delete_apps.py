"""The delete page names the project's apps that run the image, read from the real cluster
(the apps' watch cache); without a cluster it says nothing about apps (test_delete.py)."""
from __future__ import annotations

import pytest

from tests.apps.conftest import deploy_form
from tests.images.conftest import use_registry
from tests.support.html import find
from tests.support.registry import oci_layout
from tests.support.waiting import wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube


def test_the_confirm_page_names_the_apps_running_the_image(kube_app, kproject, registries, login, web, tmp_path):
    server = registries["open"]
    use_registry(kube_app, server)
    ns = kproject.name
    layout = oci_layout(tmp_path / "a", [{"hello": b"apps run me\n"}])
    other = oci_layout(tmp_path / "b", [{"hello": b"nobody runs me\n"}])
    server.push(layout, f"{ns}/web:1.0")
    server.push(layout, f"{ns}/web:stable")
    server.push(other, f"{ns}/web:2.0")
    login("dev")
    image = f"{server.host}/{ns}/web"
    for name, tag in (("shop", "stable"), ("blog", "2.0")):
        answer = web.post(f"/projects/{ns}/apps/new", deploy_form(name, image=image, tag=tag, replicas=1))
        assert answer.status_code == 302, text(answer)[-2000:]

    def apps_named() -> list[str] | None:
        page = text(web.get(f"/projects/{ns}/images/{ns}/web/-/tags/1.0/delete"))
        found = find(page, id="apps-using")
        return [a.text for a in found.find_all("a")] if found else None

    assert wait_for(apps_named, what="the delete page to name the app") == ["shop"]
    page = text(web.get(f"/projects/{ns}/images/{ns}/web/-/tags/2.0/delete"))
    assert [a.text for a in find(page, id="apps-using").find_all("a")] == ["blog"]
    assert find(page, id="shared-tags") is None
