"""Uploading an image from the page in headless Chromium (htmx running, the page's script
from hummer.js), into the real registry: the progress bar moves through the upload, the new
tag appears with a link to the project's images, skopeo sees the tag. At 360 px the page
holds (no sideways scroll) during and after the upload; screenshots land in the test's tmp
dir (upload-during-360.png, upload-after-360.png)."""
from __future__ import annotations

import os

import pytest
from selenium.webdriver.common.by import By

from tests.support.archives import docker_save, layer
from tests.support.browser import browsing, find, htmx_idle, log_in, wait_for
from tests.support.contrast import offenders

pytestmark = pytest.mark.browser

MiB = 1024 * 1024

# Every change of the bar's value and max, recorded in the page as it happens.
RECORD_BAR = """
window.__barSeen = [];
var bar = document.getElementById('upload-bar');
new MutationObserver(function () {
  window.__barSeen.push([bar.getAttribute('value'), bar.getAttribute('max')]);
}).observe(bar, {attributes: true, attributeFilter: ['value', 'max']});
"""


def set_width(d, width: int, height: int = 900):
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def in_between(d) -> list:
    """The recorded (value, max) pairs with 0 < value < max."""
    seen = d.execute_script("return window.__barSeen || []")
    return [(v, m) for v, m in seen if v is not None and m and 0 < float(v) < float(m)]


def sideways(d) -> bool:
    return d.execute_script("var e = document.documentElement; return e.scrollWidth > e.clientWidth")


def screenshot(d, path):
    d.save_screenshot(str(path))
    assert path.stat().st_size > 1000


def test_an_archive_uploads_with_a_moving_progress_bar(app, team, registries, tmp_path):
    server = registries["open"]
    app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    path = tmp_path / "web.tar"
    path.write_bytes(docker_save([layer({"noise": os.urandom(6 * MiB)}), layer({"etc/motd": b"hi\n"})]))
    with browsing(app) as d:
        set_width(d, 360)
        log_in(d, "dev")
        d.get(d.base + "/projects/alpha/images/upload")
        wait_for(d, htmx_idle, 20)
        find(d, By.ID, "name").send_keys("from-browser")
        tag = d.find_element(By.ID, "tag")
        tag.clear()
        tag.send_keys("1.0")
        d.find_element(By.ID, "archive").send_keys(str(path))
        d.execute_script(RECORD_BAR)
        # The upload crosses loopback slowly enough to watch: 2 MiB/s up, as over a modest link.
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 2 * MiB})
        d.find_element(By.ID, "upload-submit").click()
        wait_for(d, in_between, 30, "the progress bar was never seen between 0 and its max")
        assert d.find_element(By.ID, "upload-status").text.endswith(" of 6 MiB")
        assert d.find_element(By.ID, "upload-cancel").is_displayed()
        screenshot(d, tmp_path / "upload-during-360.png")
        assert not sideways(d), "the page scrolls sideways at 360 px during the upload"
        wait_for(d, lambda d: d.find_element(By.ID, "upload-done").is_displayed(), 60, "the upload never finished")
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        done = d.find_element(By.ID, "upload-done")
        assert f"{server.host}/alpha/from-browser:1.0" in done.text
        link = done.find_element(By.TAG_NAME, "a")
        assert link.get_attribute("href") == d.base + "/projects/alpha/images"
        assert not d.find_element(By.ID, "upload-cancel").is_displayed()
        screenshot(d, tmp_path / "upload-after-360.png")
        assert not sideways(d), "the page scrolls sideways at 360 px after the upload"
        assert not offenders(d), offenders(d)
    assert server.inspect("alpha/from-browser:1.0")["Digest"].startswith("sha256:")


def test_a_refused_archive_shows_the_reason_beside_the_file(app, team, registries, tmp_path):
    server = registries["open"]
    app.config.update(REGISTRY_URL=server.url, REGISTRY_USERNAME="", REGISTRY_PASSWORD="")
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are notes, not an image archive\n" * 100)
    with browsing(app) as d:
        set_width(d, 360)
        log_in(d, "dev")
        d.get(d.base + "/projects/alpha/images/upload")
        wait_for(d, htmx_idle, 20)
        find(d, By.ID, "name").send_keys("notes")
        d.find_element(By.ID, "archive").send_keys(str(path))
        d.find_element(By.ID, "upload-submit").click()
        error = find(d, By.ID, "archive-error", 30)
        assert "not a tar archive" in error.text
        assert d.find_element(By.ID, "archive").get_attribute("aria-invalid") == "true"
        screenshot(d, tmp_path / "upload-refused-360.png")
        assert not sideways(d)
