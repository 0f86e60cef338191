"""From an archive on the user's disk to a running app, in headless Chromium with htmx running:
upload it on the Upload page, find the new tag on the Images tab, follow the tag's Deploy link
(the deploy form opens with the image filled in) and deploy it onto the real test cluster.

The kubelet is simulated; its registry check asks the real registry with skopeo, so a pod
starts only if the image the Deployment names is really there."""
from __future__ import annotations

import os
import subprocess

import pytest
from selenium.webdriver.common.by import By

from tests.support.archives import docker_save, layer
from tests.support.browser import browsing, deploy_from_prefilled_form, find, htmx_idle, log_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kube]

MiB = 1024 * 1024


def in_the_registry(server):
    def check(image: str) -> bool:
        if not image.startswith(server.host + "/"):
            return False
        return subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", *server.src_creds(), f"docker://{image}"],
                              capture_output=True, timeout=60).returncode == 0
    return check


def test_upload_then_deploy_from_the_tag_page(kube_app, kproject, kubelet, registries, apps_api, tmp_path):
    server = registries["open"]
    kube_app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    kubelet.registry_checker = in_the_registry(server)
    ns = kproject.name
    archive = tmp_path / "shop.tar"
    archive.write_bytes(docker_save([layer({"app/blob": os.urandom(2 * MiB)}), layer({"etc/motd": b"hi\n"})]))
    image = f"{server.host}/{ns}/shop:2.0"

    with browsing(kube_app) as d:
        log_in(d, "dev")
        d.get(f"{d.base}/projects/{ns}/images")
        wait_for(d, htmx_idle, 20)
        find(d, By.LINK_TEXT, "Upload an image").click()
        wait_for(d, lambda d: d.current_url.endswith("/images/upload"), 20, "not on the upload page")
        find(d, By.ID, "name").send_keys("shop")
        tag = d.find_element(By.ID, "tag")
        tag.clear()
        tag.send_keys("2.0")
        d.find_element(By.ID, "archive").send_keys(str(archive))
        d.find_element(By.ID, "upload-submit").click()
        wait_for(d, lambda d: d.find_element(By.ID, "upload-done").is_displayed(), 60, "the upload never finished")
        assert image in d.find_element(By.ID, "upload-done").text

        # the new tag on the Images tab, then its page
        d.find_element(By.ID, "upload-done").find_element(By.TAG_NAME, "a").click()
        find(d, By.LINK_TEXT, f"{ns}/shop").click()
        find(d, By.LINK_TEXT, "2.0").click()
        digest = find(d, By.ID, "digest").text
        assert digest == server.inspect(f"{ns}/shop:2.0")["Digest"]
        assert find(d, By.ID, "pushed-by").text.startswith("dev")

        # Deploy: the form opens with the image, the app runs it
        find(d, By.ID, "deploy").click()
        deploy_from_prefilled_form(d, "shop", image)
    deployment = apps_api.read_namespaced_deployment("shop", ns)
    assert deployment.spec.template.spec.containers[0].image == image
