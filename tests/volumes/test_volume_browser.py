"""A volume in headless Chromium with htmx running: create it, upload files into it with the
progress bar, mount it in a new app (the deploy form's Volumes section) on the real test
cluster, and download a file back, as the same logged-in user."""
from __future__ import annotations

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support.browser import browsing, find, htmx_idle, log_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kube]

MiB = 1024 * 1024

FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "same-origin"}).then(async r => {
  const bytes = new Uint8Array(await r.arrayBuffer());
  let sum = 0; for (const b of bytes) { sum = (sum * 31 + b) % 1000000007; }
  done([r.status, bytes.length, sum, r.headers.get("Content-Disposition")]);
}).catch(e => done([0, 0, 0, String(e)]));
"""


def checksum(data: bytes) -> int:
    total = 0
    for b in data:
        total = (total * 31 + b) % 1000000007
    return total


def test_create_upload_mount_and_download(kube_app, kproject, export_root, apps_api, core_api, tmp_path):
    ns = kproject.name
    big = tmp_path / "dataset.bin"
    big.write_bytes(os.urandom(6 * MiB))
    small = tmp_path / "notes.txt"
    small.write_bytes(b"mounted at /data\n")

    with browsing(kube_app) as d:
        log_in(d, "dev")
        d.get(f"{d.base}/projects/{ns}/volumes")
        find(d, By.ID, "new-volume").click()
        find(d, By.ID, "name").send_keys("data")
        capacity = d.find_element(By.ID, "capacity")
        capacity.clear()
        capacity.send_keys("64Mi")
        d.find_element(By.CSS_SELECTOR, "#volume-form button[type=submit]").click()
        wait_for(d, lambda d: d.current_url.endswith("/volumes/data"), 20, "not on the volume's page")
        wait_for(d, lambda d: (core_api.read_namespaced_persistent_volume_claim("data", ns).status.phase
                               == "Bound"), 30, "the claim never bound")

        # two files at once, with the progress bar
        find(d, By.ID, "browse").click()
        wait_for(d, lambda d: "/volumes/data/files" in d.current_url, 20, "not on the file browser")
        find(d, By.CSS_SELECTOR, "#file-actions summary").click()
        d.find_element(By.ID, "files").send_keys(f"{big}\n{small}")
        d.find_element(By.ID, "upload-submit").click()
        wait_for(d, lambda d: d.find_element(By.ID, "upload-done").is_displayed(), 60, "the upload never finished")
        bar = d.find_element(By.ID, "upload-bar")
        sent = big.stat().st_size + small.stat().st_size
        assert float(bar.get_attribute("value")) == float(bar.get_attribute("max")) == sent
        wait_for(d, lambda d: "dataset.bin" in d.find_element(By.ID, "file-list").text and htmx_idle(d), 20,
                 "the list did not show the new files")
        assert (export_root / f"{ns}.data" / "dataset.bin").read_bytes() == big.read_bytes()

        # mount it in a new app
        d.get(f"{d.base}/projects/{ns}/apps/new")
        find(d, By.ID, "name").send_keys("reader")
        d.find_element(By.ID, "image").send_keys("hummer/web")
        d.find_element(By.ID, "ports-0-container_port").send_keys("8080")
        d.find_element(By.CSS_SELECTOR, "#section-volumes summary").click()
        Select(d.find_element(By.ID, "volumes-0-volume")).select_by_value("data")
        d.find_element(By.ID, "volumes-0-mount_path").send_keys("/data")
        d.find_element(By.CSS_SELECTOR, "#app-form button[value=deploy]").click()
        wait_for(d, lambda d: d.current_url.endswith("/apps/reader"), 30, "not on the app page")
        mounts = apps_api.read_namespaced_deployment("reader", ns).spec.template.spec.containers[0].volume_mounts
        assert [(m.name, m.mount_path) for m in mounts] == [("vol-data", "/data")]
        d.get(f"{d.base}/projects/{ns}/volumes/data")
        wait_for(d, lambda d: "reader" in d.find_element(By.ID, "mounted-by").text, 20, "the app is not listed")

        # download a file back, in the same session
        d.get(f"{d.base}/projects/{ns}/volumes/data/files")
        link = find(d, By.LINK_TEXT, "notes.txt").get_attribute("href")
        status, length, total, disposition = d.execute_async_script(FETCH, link)
        assert (status, length, total) == (200, small.stat().st_size, checksum(small.read_bytes()))
        assert "notes.txt" in disposition
