"""Headless Chromium (Debian's chromium + chromium-driver) against a live portal on loopback.

`browsing()` fails a test that ends with a Content-Security-Policy violation in Chromium's
console (an inline script, style or handler, an eval, a foreign source): every browser test
runs under the portal's real CSP.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from contextlib import contextmanager

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from werkzeug.serving import make_server

from tests.support.processes import free_port

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    "--disable-dev-shm-usage", "--window-size=1280,900",
]


@contextmanager
def live_server(app):
    """Serve the app on 127.0.0.1:<free port> in a thread; yields the base URL."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def chromium(accept_language: str | None = None):
    """Headless Chromium; `accept_language` ("zh-CN,zh") is what it asks pages for (its
    Accept-Language header, as a browser set to that language sends)."""
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not os.path.exists(binary) or not os.path.exists(driver_path):
        raise RuntimeError("Debian's chromium and chromium-driver are needed: ./hummer test installs "
                           "them, or run apt-get install chromium chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    profile = tempfile.mkdtemp(prefix="hummer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    if accept_language:
        options.add_argument(f"--lang={accept_language.split(',')[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
    # The console (CSP violations among it) is read back with driver.get_log("browser").
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition, timeout: float = 10, message: str = ""):
    """Poll `condition`; elements replaced by an htmx swap meanwhile are simply looked up again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                         ).until(condition, message)


def htmx_idle(driver) -> bool:
    return driver.execute_script(
        "return !!window.htmx && document.querySelectorAll('.htmx-request').length === 0")


def find(driver, by, selector, timeout: float = 10):
    """Wait for an element: htmx swaps land a moment after the URL changes."""
    return wait_for(driver, lambda d: d.find_elements(by, selector), timeout,
                    message=f"no element {selector!r}")[0]


def log_in(driver, username: str, password: str | None = None):
    """Log in through the login form, as a person does, and wait until the portal moves on."""
    from selenium.webdriver.common.by import By

    from tests.conftest import PASSWORD
    driver.get(driver.base + "/login")
    find(driver, By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD if password is None else password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(driver, lambda d: "/login" not in d.current_url, message=f"{username} could not log in")


def csp_violations(driver) -> list[str]:
    """Console messages since the last call that report a Content-Security-Policy violation."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry.get("message", "")]


@contextmanager
def browsing(app, accept_language: str | None = None):
    """Chromium on the app served live; the driver's `base` is the server's URL.

    At the end (when the test itself passed) no CSP violation may be in the console."""
    with live_server(app) as base, chromium(accept_language) as driver:
        driver.base = base
        yield driver
        violations = csp_violations(driver)
        assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def record_events(driver, *names: str) -> None:
    """From now on, in this page (whose boosted navigations keep the document) and in every
    page loaded later, count the DOM events `names` (e.g. "htmx:sseOpen") that reach the
    document; read them with events_seen(). For later pages the listener is injected through
    the DevTools protocol before any page script, so no event is missed and the page's CSP
    is untouched."""
    script = ("window.__hummerEvents = window.__hummerEvents || {};"
              "window.__hummerListening = window.__hummerListening || {};"
              + "".join(f"if (!window.__hummerListening[{name!r}]) {{"
                        f" window.__hummerListening[{name!r}] = true;"
                        f" document.addEventListener({name!r}, function () {{"
                        f" window.__hummerEvents[{name!r}] = (window.__hummerEvents[{name!r}] || 0) + 1;"
                        f" }}, true); }}" for name in names))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})
    driver.execute_script(script)


def events_seen(driver, name: str) -> int:
    """How many `name` events (recorded by record_events) this page has seen."""
    return driver.execute_script("return (window.__hummerEvents || {})[arguments[0]] || 0", name)


def deploy_from_prefilled_form(driver, name: str, image: str, port: str = "8080") -> None:
    """On the deploy form a Deploy link opened: the image is filled in; give the app its name
    and a port, deploy, and wait until its page shows it ready (1/1)."""
    wait_for(driver, lambda d: "/apps/new" in d.current_url, 20, "the Deploy link did not open the deploy form")
    assert find(driver, By.ID, "image").get_attribute("value") == image
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "ports-0-container_port").send_keys(port)
    driver.find_element(By.CSS_SELECTOR, "#app-form button[value=deploy]").click()
    wait_for(driver, lambda d: d.current_url.endswith(f"/apps/{name}"), 30, "not on the app page")
    wait_for(driver, lambda d: d.find_element(By.ID, "app-ready").text == "1/1", 60, "the app never became ready")
