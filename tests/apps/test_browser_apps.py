"""In headless Chromium with htmx running: deploy an app, watch it become ready without
a reload, scale it, and read its logs (including a line followed live over SSE)."""
import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import browsing, find as find_element, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kube]


@pytest.fixture
def browser(kube_app):
    with browsing(kube_app) as driver:
        yield driver


def find(d, by, selector, timeout=20):
    return find_element(d, by, selector, timeout)


def test_deploy_scale_and_read_logs(browser, kproject, kubelet):
    from tests.conftest import PASSWORD
    d = browser
    ns = kproject.name
    d.get(d.base + "/login")
    find(d, By.NAME, "username").send_keys("dev")
    d.find_element(By.NAME, "password").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(d, lambda d: "/login" not in d.current_url)

    d.get(f"{d.base}/projects/{ns}/apps/new")
    find(d, By.ID, "name").send_keys("hello")
    d.find_element(By.ID, "image").send_keys("hummer/hello")
    d.find_element(By.ID, "replicas").clear()
    d.find_element(By.ID, "replicas").send_keys("1")
    d.find_element(By.ID, "ports-0-container_port").send_keys("8080")
    d.find_element(By.CSS_SELECTOR, "#app-form button[value=deploy]").click()
    wait_for(d, lambda d: d.current_url.endswith("/apps/hello"), 20, "not on the app page")
    wait_for(d, lambda d: "App hello deployed" in d.find_element(By.ID, "flashes").text)
    d.execute_script("window.__hummerMark = 42")
    # the status polls itself: 1/1 ready appears without a reload
    wait_for(d, lambda d: d.find_element(By.ID, "app-ready").text == "1/1", 30, "never 1/1 ready")
    assert d.execute_script("return window.__hummerMark === 42")

    replicas = d.find_element(By.ID, "replicas")
    replicas.clear()
    replicas.send_keys("3")
    d.find_element(By.CSS_SELECTOR, "#scale-form button[type=submit]").click()
    wait_for(d, lambda d: "hello scaled to 3." in d.find_element(By.ID, "flashes").text, 20)
    wait_for(d, lambda d: d.find_element(By.ID, "app-ready").text == "3/3", 40, "never 3/3 ready")
    assert len(d.find_elements(By.CSS_SELECTOR, "#pods tbody tr")) == 3

    find(d, By.LINK_TEXT, "Logs").click()
    wait_for(d, lambda d: "/logs" in d.current_url)
    wait_for(d, lambda d: "started with image hummer/hello:latest" in d.find_element(By.ID, "log-lines").text, 20)
    find(d, By.ID, "follow").click()
    find(d, By.ID, "log-follow")
    pod = d.find_elements(By.CSS_SELECTOR, "#log-lines .pod")[0].text
    import time
    time.sleep(1.0)  # let the EventSource connect
    kubelet.write_log(ns, pod, "hello", "a line written just now")
    wait_for(d, lambda d: "a line written just now" in d.find_element(By.ID, "log-lines").text, 20,
             "the followed line never arrived")
