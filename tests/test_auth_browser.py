"""Login, the profile page and "log out everywhere" in headless Chromium with htmx running."""
import pytest
from selenium.webdriver.common.by import By

from tests.conftest import PASSWORD
from tests.support.browser import browsing, find, htmx_idle, wait_for

pytestmark = pytest.mark.browser

NEW_PASSWORD = "brand-new-pass-1"


def body_token(d) -> str:
    return d.execute_script(
        "return JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")


def test_login_loads_a_new_document_with_the_new_csrf_token(app, make_user):
    make_user("ann")
    with browsing(app) as d:
        d.get(d.base + "/login?next=/projects")
        wait_for(d, lambda d: d.execute_script("return !!window.htmx"), message="htmx did not load")
        anonymous_token = body_token(d)
        d.find_element(By.ID, "username").send_keys("ann")
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(d, lambda d: d.current_url.endswith("/projects"), message="not sent on to /projects")
        wait_for(d, htmx_idle)
        # The token htmx sends in its header is the logged-in session's, not the old one.
        hidden = d.find_element(By.CSS_SELECTOR, "form.inline input[name=csrf_token]")
        assert body_token(d) == hidden.get_attribute("value") != anonymous_token

        # Profile: change the password, then log out everywhere.
        find(d, By.LINK_TEXT, "Profile").click()
        wait_for(d, lambda d: d.current_url.endswith("/profile"))
        find(d, By.ID, "current_password").send_keys("not-the-password")
        d.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
        d.find_element(By.ID, "confirm").send_keys(NEW_PASSWORD)
        d.find_element(By.CSS_SELECTOR, "#change-password button[type=submit]").click()
        wait_for(d, lambda d: d.find_elements(By.ID, "current_password-error"),
                 message="no error beside the current password")
        assert d.find_element(By.ID, "current_password-error").text == "That is not your current password."
        d.find_element(By.ID, "current_password").send_keys(PASSWORD)
        d.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
        d.find_element(By.ID, "confirm").send_keys(NEW_PASSWORD)
        d.find_element(By.CSS_SELECTOR, "#change-password button[type=submit]").click()
        wait_for(d, lambda d: "Your password is changed" in d.find_element(By.TAG_NAME, "main").text,
                 message="no confirmation of the password change")

        d.find_element(By.CSS_SELECTOR, "#sessions button[type=submit]").click()
        wait_for(d, lambda d: d.current_url.endswith("/login"), message="not sent to the login page")
        wait_for(d, lambda d: "You are logged out everywhere" in d.find_element(By.TAG_NAME, "main").text)
        d.get(d.base + "/projects")
        wait_for(d, lambda d: "/login" in d.current_url, message="still logged in after log out everywhere")
