"""A build in headless Chromium with htmx running: the form uploads the context, the build's
page shows its log live as buildah writes it (Server-Sent Events), and Deploy runs the new
image on the real test cluster (the kubelet is simulated; it asks the real registry)."""
from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By

from tests.builds.test_portal_builds import tar_gz
from tests.images.test_upload_deploy_browser import in_the_registry
from tests.support.browser import browsing, deploy_from_prefilled_form, find, htmx_idle, log_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kube]


class Gate:
    """An HTTP server on loopback answering 503 until open(), then 200."""

    def __init__(self):
        opened = self.opened = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(200 if opened.is_set() else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/go"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self) -> None:
        self.opened.set()

    def close(self) -> None:
        self.opened.set()
        self.server.shutdown()
        self.server.server_close()


def test_build_watch_the_log_live_then_deploy(kube_app, kproject, kubelet, registries, busybox_base, apps_api,
                                              tmp_path):
    server = registries["open"]
    kube_app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    kubelet.registry_checker = in_the_registry(server)
    ns = kproject.name
    context = tmp_path / "ctx.tar.gz"
    # The step writes one line, then waits for the test's gate (RUN shares the host's network
    # under chroot isolation) before it writes another: the page must show the first while the
    # build is still going.
    gate = Gate()
    context.write_bytes(tar_gz({"Dockerfile": f"FROM {busybox_base}\n"
                                              f"RUN echo first-$((1+1)) && until wget -q -O /dev/null {gate.url}; "
                                              "do sleep 0.2; done && echo last-$((3+4))\n"}))
    image = f"{server.host}/{ns}/built:1.0"

    with browsing(kube_app) as d, contextlib.closing(gate):
        log_in(d, "dev")
        d.get(f"{d.base}/projects/{ns}/images")
        wait_for(d, htmx_idle, 20)
        find(d, By.ID, "build-button").click()
        wait_for(d, lambda d: d.current_url.endswith("/builds/new"), 20, "not on the build form")
        find(d, By.ID, "context").send_keys(str(context))
        find(d, By.ID, "name").send_keys("built")
        tag = find(d, By.ID, "tag")
        tag.clear()
        tag.send_keys("1.0")
        find(d, By.ID, "build-submit").click()
        wait_for(d, lambda d: "/builds/" in d.current_url and not d.current_url.endswith("/new"), 30,
                 "the form did not lead to the build's page")
        wait_for(d, lambda d: "first-2" in d.find_element(By.ID, "build-log").text.splitlines(), 60,
                 "the first line never appeared live")
        assert "last-7" not in d.find_element(By.ID, "build-log").text
        assert d.find_element(By.ID, "build-state").text == "building"
        gate.open()
        wait_for(d, lambda d: d.find_element(By.ID, "build-state").text == "pushed", 90, "the build never pushed")
        wait_for(d, lambda d: "last-7" in d.find_element(By.ID, "build-log").text.splitlines(), 20,
                 "the last lines never arrived")
        assert find(d, By.ID, "build-digest").text == server.inspect(f"{ns}/built:1.0")["Digest"]

        find(d, By.ID, "deploy-build").click()
        deploy_from_prefilled_form(d, "built", image)
    deployment = apps_api.read_namespaced_deployment("built", ns)
    assert deployment.spec.template.spec.containers[0].image == image
