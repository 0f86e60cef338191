"""The API reference page in Chromium: Swagger UI (vendored, no CDN) renders the portal's own
OpenAPI document under the portal's Content-Security-Policy (browsing() fails on a violation)."""
import pytest
from selenium.webdriver.common.by import By

from tests.api.test_api_matrix import OPERATIONS
from tests.support.browser import browsing, find, wait_for

pytestmark = pytest.mark.browser


def test_the_reference_page_shows_every_operation_under_the_csp(app):
    with browsing(app) as driver:
        driver.get(driver.base + "/api/v1/docs")
        find(driver, By.CSS_SELECTOR, ".swagger-ui .opblock", timeout=30)
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == OPERATIONS,
                 timeout=30, message=f"{OPERATIONS} operations listed")
        paths = {e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert "/api/v1/projects/{name}/apps/{app}/image" in paths
        assert "/api/v1/projects/{name}/volumes/{volume}/files/content" in paths
        assert "/api/v1/projects/{name}/images/{repository}/-/tags/{tag}" in paths
        assert "/api/v1/projects/{name}/builds/{build_id}" in paths
        assert "Hummer API" in driver.find_element(By.CSS_SELECTOR, ".swagger-ui .title").text
        scripts = [s.get_attribute("src") for s in driver.find_elements(By.TAG_NAME, "script")]
        assert all(src.startswith(driver.base) for src in scripts)  # nothing from elsewhere


def test_the_token_pages_hold_at_360_px_and_meet_contrast(app, make_user, make_project, make_token, tmp_path):
    from tests.test_console_browser import LONG_USER, check_pages
    admin = make_user(LONG_USER, admin=True)
    make_project("p" * 63, {admin: "owner"})
    make_token(admin, "developer", ["p" * 63], name="t" * 64)
    check_pages(app, LONG_USER, {"profile": ("/profile", "token-list"),
                                 "admin-tokens": ("/admin/tokens", "all-tokens")}, tmp_path)
