"""Bad input on the pages that need the cluster: the image form applies the deploy form's
limits (distribution's reference grammar, lower-case path, name <= 255, tag <= 128) and
changes nothing; the apps list bounds its page number like every list."""
from __future__ import annotations

import pytest

from tests.apps.conftest import deploy_form, wait_for
from tests.support.web import error_beside, text

pytestmark = pytest.mark.kube


@pytest.mark.parametrize("image, tag, field, message", [
    ("Hummer/Web", "1.0", "image", "Upper-case letters are not allowed."),
    ("hummer/Web", "1.0", "image", "Upper-case letters are not allowed."),
    ("a" * 10_000, "1.0", "image", "at most 255 characters"),
    ("hummer/web", "t" * 129, "tag", "A tag is letters"),
    ("hummer/web\x00", "1.0", "image", "Not an image reference"),
])
def test_bad_image_change_is_explained_and_not_applied(kproject, login, web, apps_api, image, tag, field, message):
    login("dev")
    ns = kproject.name
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", replicas=0)).status_code == 302
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": image, "tag": tag})
    assert response.status_code == 422
    assert message in error_beside(text(response), field)
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].image == "hummer/web:1.0"


@pytest.mark.parametrize("page, shown", [("99999999999999999999999", "Page 2 of 2"), ("-3", "Page 1 of 2"),
                                         ("abc", "Page 1 of 2"), ("\u0663", "Page 1 of 2")])
def test_apps_list_page_number_is_bounded(kube_app, kproject, login, web, page, shown):
    kube_app.config["PAGE_SIZE"] = 1
    login("dev")
    for name in ("one", "two"):
        assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form(name, replicas=0)).status_code == 302
    wait_for(lambda: "Page 1 of 2" in text(web.get(f"/projects/{kproject.name}/apps")), timeout=60,
             what="both apps in the list")
    response = web.get(f"/projects/{kproject.name}/apps?page={page}")
    assert response.status_code == 200
    assert shown in text(response)
