"""Real pages in headless Chromium with htmx running: login, create a project, add a member."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.conftest import PASSWORD
from tests.support.browser import browsing, find, htmx_idle, wait_for
from tests.support.contrast import offenders

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(app):
    with browsing(app) as driver:
        yield driver


def same_document(driver) -> bool:
    """True while no full page load has happened since mark_document()."""
    return driver.execute_script("return window.__hummerMark === 42")


def mark_document(driver):
    driver.execute_script("window.__hummerMark = 42")


def test_login_create_project_add_member(browser, make_user):
    make_user("ann")
    make_user("bob")
    d = browser
    d.get(d.base + "/projects")
    assert "/login" in d.current_url
    wait_for(d, lambda d: d.execute_script("return !!window.htmx"), message="htmx did not load")

    # Wrong password: the message appears beside the field.
    d.find_element(By.ID, "username").send_keys("ann")
    d.find_element(By.ID, "password").send_keys("wrong")
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, lambda d: d.find_elements(By.ID, "password-error"), message="no login error shown")
    assert d.find_element(By.ID, "password-error").text == (
        "Wrong username or password, or the account is locked or disabled.")
    assert not offenders(d), offenders(d)  # the error text too

    d.find_element(By.ID, "password").send_keys(PASSWORD)
    d.find_element(By.ID, "username").clear()
    d.find_element(By.ID, "username").send_keys("ann")
    d.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(d, lambda d: d.current_url.endswith("/projects"), message="not sent on to /projects")
    wait_for(d, htmx_idle)

    # Create a project: a bad name is explained in place by an htmx swap of the form.
    find(d, By.LINK_TEXT, "New project").click()
    wait_for(d, lambda d: d.find_elements(By.ID, "project-form"))
    mark_document(d)
    d.find_element(By.ID, "name").send_keys("Bad Name")
    d.find_element(By.CSS_SELECTOR, "#project-form button[type=submit]").click()
    wait_for(d, lambda d: d.find_elements(By.ID, "name-error"), message="no inline error")
    assert "DNS-1123" in d.find_element(By.ID, "name-error").text
    assert same_document(d), "the error should be swapped in by htmx, not a page load"

    name = d.find_element(By.ID, "name")
    name.clear()
    name.send_keys("shop")
    d.find_element(By.ID, "display_name").send_keys("The Shop")
    d.find_element(By.CSS_SELECTOR, "#project-form button[type=submit]").click()
    wait_for(d, lambda d: d.current_url.endswith("/projects/shop"), message="not on the project page")
    wait_for(d, lambda d: "The Shop" in d.find_element(By.TAG_NAME, "h1").text)
    assert not offenders(d), offenders(d)  # WCAG AA contrast of every visible text

    # Add a member: the members section is replaced in place, with the flash out of band.
    find(d, By.LINK_TEXT, "Members").click()
    wait_for(d, lambda d: d.current_url.endswith("/projects/shop/members"))
    wait_for(d, lambda d: d.find_elements(By.ID, "members"))
    mark_document(d)
    d.find_element(By.ID, "username").send_keys("bob")
    Select(d.find_element(By.ID, "role")).select_by_value("viewer")
    d.find_element(By.CSS_SELECTOR, "#add-member button[type=submit]").click()
    wait_for(d, lambda d: "bob added as viewer." in d.find_element(By.ID, "flashes").text,
             message="no confirmation after adding bob")
    rows = [r.text for r in d.find_elements(By.CSS_SELECTOR, "#members tbody tr")]
    assert any(r.startswith("bob") for r in rows), rows
    assert same_document(d), "adding a member should not reload the page"

    # Change bob's role inline, then search the project list live.
    bob_select = d.find_element(By.CSS_SELECTOR, "select[aria-label='Role of bob']")
    Select(bob_select).select_by_value("developer")
    wait_for(d, htmx_idle)
    wait_for(d, lambda d: Select(d.find_element(
        By.CSS_SELECTOR, "select[aria-label='Role of bob']")
    ).first_selected_option.get_attribute("value") == "developer")
    d.get(d.base + "/projects")
    search = d.find_element(By.NAME, "q")
    mark_document(d)
    search.send_keys("sho")
    wait_for(d, lambda d: "q=sho" in d.current_url, message="search URL was not pushed")
    assert "shop" in d.find_element(By.ID, "project-rows").text
    search.send_keys(Keys.BACKSPACE * 3 + "zzz")
    wait_for(d, lambda d: "No project matches" in d.find_element(By.ID, "project-rows").text)
    assert same_document(d)
