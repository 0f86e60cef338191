"""An app's Monitoring tab in headless Chromium with htmx running: the charts are drawn with
data, and another time range draws them again."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.monitoring.test_charts import web_app  # noqa: F401,F811
from tests.support.browser import browsing, find, log_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kube]


def test_the_monitoring_tab_shows_charts_with_data(kube_app, web_app):  # noqa: F811
    ns, pods = web_app
    with browsing(kube_app) as d:
        log_in(d, "dev")
        d.get(f"{d.base}/projects/{ns}/apps/web")
        find(d, By.ID, "monitoring-link").click()
        wait_for(d, lambda d: "/apps/web/monitoring" in d.current_url, 20, "not on the Monitoring tab")
        cpu = find(d, By.ID, "chart-cpu")
        lines = cpu.find_elements(By.CSS_SELECTOR, "svg.chart polyline.line")
        assert len(lines) == 3  # all pods, and each of the two
        assert all(len(line.get_attribute("points").split()) >= 10 for line in lines)  # 30 min, 2-min steps
        legend = cpu.find_element(By.CLASS_NAME, "legend").get_attribute("textContent")
        assert all(pod in legend for pod in pods) and "0.75 cores" in legend, (legend, pods)
        assert find(d, By.ID, "chart-memory").find_elements(By.CSS_SELECTOR, "polyline.line")
        # another range: the form's choice, the page drawn again for it
        find(d, By.ID, "range").send_keys("24")
        d.find_element(By.CSS_SELECTOR, "#range-form button[type=submit]").click()
        wait_for(d, lambda d: "range=24h" in d.current_url, 20, "the range did not change")
        assert "a point every 300 s" in find(d, By.ID, "range-words").text
