"""The Images pages in headless Chromium against the real registry: they hold at 360 and
1,400 px with a 63-character project name (no sideways scroll, the tags table stacked into
labelled cells), meet WCAG AA contrast, and the Copy button copies the pull command."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from portal.models import Role
from tests.images.conftest import use_registry
from tests.support.browser import browsing, wait_for
from tests.support.registry import oci_layout
from tests.test_console_browser import LONG_PROJECT, check_page, log_in, set_width, visit

pytestmark = pytest.mark.browser


@pytest.fixture
def pushed(app, registries, make_user, make_project, tmp_path):
    server = registries["open"]
    use_registry(app, server)
    dev = make_user("dev")
    make_project(LONG_PROJECT, {dev: Role.DEVELOPER})
    layout = oci_layout(tmp_path / "img", [{"hello": b"seen in a browser\n"}])
    repository = f"{LONG_PROJECT}/web-front-end-with-a-long-name"
    server.push(layout, f"{repository}:1.0.0-rc.1-with-a-long-tag-name")
    server.push(layout, f"{repository}:stable")
    return server, repository


def test_the_images_pages_hold_at_360_and_1400_px(app, pushed, tmp_path):
    server, repository = pushed
    tag = "1.0.0-rc.1-with-a-long-tag-name"
    pages = {"images": f"/projects/{LONG_PROJECT}/images",
             "repository": f"/projects/{LONG_PROJECT}/images/{repository}",
             "tag": f"/projects/{LONG_PROJECT}/images/{repository}/-/tags/{tag}",
             "delete": f"/projects/{LONG_PROJECT}/images/{repository}/-/tags/{tag}/delete"}
    problems: list[str] = []
    with browsing(app) as d:
        log_in(d, "dev")
        for width in (360, 1400):
            set_width(d, width)
            for name, url in pages.items():
                visit(d, url)
                check_page(d, f"image-{name}", tmp_path, width, problems)
            visit(d, pages["repository"])
            header = d.find_element(By.CSS_SELECTOR, "table#tags thead")
            assert header.is_displayed() is (width > 360)  # at 360 px every cell carries its label
    assert not problems, "\n".join(problems)


def test_copy_puts_the_pull_command_on_the_clipboard(app, pushed):
    server, repository = pushed
    with browsing(app) as d:
        d.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["clipboardReadWrite",
                                                                        "clipboardSanitizedWrite"]})
        log_in(d, "dev")
        visit(d, f"/projects/{LONG_PROJECT}/images/{repository}/-/tags/stable")
        button = d.find_element(By.CSS_SELECTOR, "button[data-copy=pull-command]")
        assert button.is_displayed() and button.text == "Copy"  # shown where the script runs
        button.click()
        wait_for(d, lambda _: button.text == "Copied", message="the button did not confirm the copy")
        copied = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, e => done('failed: ' + e));")
        assert copied == f"docker pull {server.host}/{repository}:stable"
        wait_for(d, lambda _: button.text == "Copy", message="the label did not come back")
