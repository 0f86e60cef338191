"""In headless Chromium with htmx running: deploy an app, watch it become ready without
a reload, scale it, and read its logs (including a line followed live over SSE)."""
import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import browsing, events_seen, log_in, record_events, wait_for
from tests.support.browser import find as find_element

pytestmark = [pytest.mark.browser, pytest.mark.kube]


@pytest.fixture
def browser(kube_app):
    with browsing(kube_app) as driver:
        yield driver


def find(d, by, selector, timeout=20):
    return find_element(d, by, selector, timeout)


def test_deploy_scale_and_read_logs(browser, kproject, kubelet):
    d = browser
    ns = kproject.name
    log_in(d, "dev")

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
    record_events(d, "htmx:sseOpen")
    find(d, By.ID, "follow").click()
    find(d, By.ID, "log-follow")
    pod = d.find_elements(By.CSS_SELECTOR, "#log-lines .pod")[0].text
    wait_for(d, lambda d: events_seen(d, "htmx:sseOpen"), 20, "the EventSource never opened")
    kubelet.write_log(ns, pod, "hello", "a line written just now")
    wait_for(d, lambda d: "a line written just now" in d.find_element(By.ID, "log-lines").text, 20,
             "the followed line never arrived")


def test_deploy_form_then_edit_an_env_value_in_the_browser(browser, kproject, apps_api):
    from selenium.webdriver.support.ui import Select
    d = browser
    ns = kproject.name
    log_in(d, "dev")
    d.get(f"{d.base}/projects/{ns}/apps/new")
    # the default plan is chosen; the advanced sections are folded, each with its count
    assert Select(find(d, By.ID, "plan")).first_selected_option.get_attribute("value") == "small"
    for section in ("command", "health", "scaling"):
        details = d.find_element(By.ID, f"section-{section}")
        assert details.get_attribute("open") is None
        assert d.find_element(By.ID, f"section-{section}-count").text == "0 set"
    assert not d.find_element(By.ID, "workdir").is_displayed()
    # the env source decides which fields show
    assert d.find_element(By.ID, "env-0-value").is_displayed()
    assert not d.find_element(By.ID, "env-0-secret").is_displayed()
    Select(d.find_element(By.ID, "env-0-source")).select_by_value("secret")
    wait_for(d, lambda d: d.find_element(By.ID, "env-0-secret").is_displayed()
             and d.find_element(By.ID, "env-0-key").is_displayed()
             and not d.find_element(By.ID, "env-0-value").is_displayed(), 5, "secret fields not shown")
    Select(d.find_element(By.ID, "env-0-source")).select_by_value("plain")
    wait_for(d, lambda d: d.find_element(By.ID, "env-0-value").is_displayed(), 5, "value field not back")
    # health checks: opened, the probe's kind decides which of its fields show
    d.find_element(By.CSS_SELECTOR, "#section-health > summary").click()
    assert not d.find_element(By.ID, "readiness-port").is_displayed()
    Select(d.find_element(By.ID, "readiness-kind")).select_by_value("tcp")
    wait_for(d, lambda d: d.find_element(By.ID, "readiness-port").is_displayed()
             and not d.find_element(By.ID, "readiness-path").is_displayed(), 5, "tcp probe fields")
    # the section's count follows what is set (hummer.js; the server renders the same count)
    wait_for(d, lambda d: d.find_element(By.ID, "section-health-count").text == "1 set", 5, "count not 1")
    Select(d.find_element(By.ID, "readiness-kind")).select_by_value("none")
    wait_for(d, lambda d: d.find_element(By.ID, "section-health-count").text == "0 set", 5, "count not 0")
    d.find_element(By.CSS_SELECTOR, "#section-command > summary").click()
    d.find_element(By.ID, "workdir").send_keys("/srv")
    wait_for(d, lambda d: d.find_element(By.ID, "section-command-count").text == "1 set", 5, "command count")

    d.find_element(By.ID, "name").send_keys("greet")
    d.find_element(By.ID, "image").send_keys("hummer/hello")
    d.find_element(By.ID, "ports-0-container_port").send_keys("8080")
    d.find_element(By.ID, "env-0-name").send_keys("GREETING")
    d.find_element(By.ID, "env-0-value").send_keys("hello")
    d.find_element(By.CSS_SELECTOR, "#app-form button[value=deploy]").click()
    wait_for(d, lambda d: d.current_url.endswith("/apps/greet"), 20, "not on the app page")

    find(d, By.LINK_TEXT, "Edit").click()
    wait_for(d, lambda d: d.current_url.endswith("/apps/greet/edit"), 20, "not on the edit page")
    value = find(d, By.ID, "env-0-value")
    assert value.get_attribute("value") == "hello"
    value.clear()
    value.send_keys("bonjour")
    d.find_element(By.CSS_SELECTOR, "#app-form button[value=save]").click()
    wait_for(d, lambda d: d.current_url.endswith("/apps/greet"), 20, "the save did not come back to the app page")
    wait_for(d, lambda d: "greet updated." in d.find_element(By.ID, "flashes").text, 20)
    env = apps_api.read_namespaced_deployment("greet", ns).spec.template.spec.containers[0].env
    assert [(e.name, e.value) for e in env] == [("GREETING", "bonjour")]


def test_an_edit_error_is_shown_in_the_browser(browser, kproject, login, web, apps_api):
    from tests.apps.conftest import deploy_form
    ns = kproject.name
    login("dev")
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("oops", replicas=1)).status_code == 302
    d = browser
    log_in(d, "dev")
    d.get(f"{d.base}/projects/{ns}/apps/oops/edit")
    name = find(d, By.ID, "env-0-name")
    name.clear()
    name.send_keys("1BAD")
    d.find_element(By.CSS_SELECTOR, "#app-form button[value=save]").click()
    error = find(d, By.ID, "env-0-name-error")
    assert "not starting with a digit" in error.text and error.is_displayed()
    assert d.current_url.endswith("/apps/oops/edit")
    assert apps_api.read_namespaced_deployment("oops", ns).spec.template.spec.containers[0].env[0].name == "GREETING"


COUNT_POLLS = """
window.__polls = {asked: 0, sent: 0};
document.addEventListener("htmx:beforeRequest", function (e) {
  if (e.detail.elt.id === "app-status") { window.__polls.asked += 1; } });
document.addEventListener("htmx:beforeSend", function (e) {
  if (e.detail.elt.id === "app-status") { window.__polls.sent += 1; } });
"""
SET_HIDDEN = """
var hidden = %s;
Object.defineProperty(document, "hidden", {configurable: true, get: function () { return hidden; }});
document.dispatchEvent(new Event("visibilitychange"));
"""


def test_status_polls_on_through_an_outage_and_rests_while_hidden(browser, kube_app, kproject, login, web,
                                                                   tmp_path):
    from tests.apps.conftest import deploy_form
    ns = kproject.name
    login("dev")
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", replicas=1)).status_code == 302
    d = browser
    log_in(d, "dev")
    d.get(f"{d.base}/projects/{ns}/apps/web")
    wait_for(d, lambda d: d.find_element(By.ID, "app-ready").text == "1/1", 30, "never 1/1 ready")

    # Kubernetes stops answering (its kubeconfig is gone: the same 503 as an unreachable cluster)
    kubeconfig = kube_app.config["KUBECONFIG"]
    kube_app.config["KUBECONFIG"] = str(tmp_path / "gone.yaml")
    try:
        wait_for(d, lambda d: "does not exist" in d.find_element(By.CSS_SELECTOR, "#app-status #app-status-error").text,
                 20, "the reason never showed in the status section")
    finally:
        kube_app.config["KUBECONFIG"] = kubeconfig
    # ... and answers again: the section polled on, and shows the app
    wait_for(d, lambda d: d.find_element(By.ID, "app-ready").text == "1/1", 20, "the status stopped polling")

    # a hidden tab asks nothing; shown again, it asks at once
    d.execute_script(COUNT_POLLS + SET_HIDDEN % "true")
    wait_for(d, lambda d: d.execute_script("return window.__polls.asked") >= 2, 10, "no poll came due")
    assert d.execute_script("return window.__polls.sent") == 0
    d.execute_script(SET_HIDDEN % "false")
    wait_for(d, lambda d: d.execute_script("return window.__polls.sent") >= 1, 10, "no poll after the tab showed")
    wait_for(d, lambda d: d.find_element(By.ID, "app-ready").text == "1/1", 10, "the status is gone")
