"""The Monitoring tab, the node pages and the dashboard's usage card, against the real
InfluxDB and the real API server: charts drawn from Telegraf-shaped points, time ranges and
their steps, series identity across an app deleted and deployed again, no data, and
"metrics unavailable" while InfluxDB is down, recovering by itself."""
from __future__ import annotations

import html
import re
import time

import pytest

from tests.monitoring.conftest import deploy_form, ready
from tests.support.telegraf import MIB, HostUsage, PodUsage, every, host_points, pod_points, write
from tests.support.waiting import wait_for
from tests.support.web import text


def pods_of(core_api, ns: str, app: str) -> list[str]:
    found = core_api.list_namespaced_pod(ns, label_selector=f"hummer.io/app={app}").items
    return sorted(p.metadata.name for p in found)


@pytest.fixture
def web_app(kproject, login, web, apps_api, core_api, metrics_app):
    """'web' with two pods, running "for 30 minutes": its charts start then (the
    hummer.io/metrics-since annotation; by default they start at the Deployment's creation,
    and older series of the same name are another app's), and 30 minutes of their usage."""
    login("dev")
    assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form("web", replicas=2)).status_code == 302
    ready(apps_api, kproject.name, "web", 2)
    pods = pods_of(core_api, kproject.name, "web")
    now = int(time.time())
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1800))
    apps_api.patch_namespaced_deployment("web", kproject.name,
                                         {"metadata": {"annotations": {"hummer.io/metrics-since": since}}})
    wait_for(lambda: kube_cache_sees(web, kproject.name, since), what="the annotation in the portal's cache")
    at = every(now - 1800, now, 10)
    points = []
    for i, pod in enumerate(pods):
        points += pod_points(PodUsage(kproject.name, pod, cpu_cores=0.25 * (i + 1), memory_bytes=(64 + 32 * i) * MIB,
                                      since=now - 3600), at)
    write(metrics_app.client(), points)
    return kproject.name, pods


def kube_cache_sees(web, ns: str, since: str) -> bool:
    from portal.services import kube_access
    with web.app.app_context():
        app = kube_access.kube().app(ns, "web")
        return app is not None and app.metrics_since == since


def charts(page: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r'<figure id="chart-(\w+)">(.*?)</figure>', page, re.S)}


def test_the_monitoring_tab_draws_cpu_memory_and_network(web_app, web):
    ns, pods = web_app
    page = text(web.get(f"/projects/{ns}/apps/web/monitoring?range=1h"))
    drawn = charts(page)
    assert set(drawn) == {"cpu", "memory", "network"}
    for key, svg in drawn.items():
        assert 'class="line s' in svg, key  # a line, or a dot for a single point
    # each pod and their sum, with the latest value and its unit in the legend
    assert all(pod in drawn["cpu"] for pod in pods) and "all pods" in drawn["cpu"]
    assert "0.75 cores" in drawn["cpu"] and "0.25 cores" in drawn["cpu"]
    assert "160 MiB" in drawn["memory"]          # 64 + 96 MiB summed
    assert "/s" in drawn["network"] and "received" in drawn["network"]
    # hover values: a time band's title lists every series then
    assert re.search(r"<title>\d{4}-\d\d-\d\d \d\d:\d\d UTC\n", drawn["cpu"])
    # at most about 300 points a series
    assert all(len(p.split()) <= 301 for p in re.findall(r'points="([^"]*)"', page))
    assert 'hx-trigger="every 30s"' in page  # a range ending now refreshes itself


@pytest.mark.parametrize("preset,step,rollup", [("1h", 20, False), ("24h", 300, False), ("7d", 3600, True),
                                                ("30d", 10800, True)])
def test_each_range_has_its_step_and_source(web_app, web, preset, step, rollup):
    ns, _pods = web_app
    page = text(web.get(f"/projects/{ns}/apps/web/monitoring?range={preset}"))
    assert f"a point every {step} s" in page
    assert ("from the 1-hour rollup" in page) is rollup


def test_a_custom_range_and_a_wrong_one(web_app, web):
    ns, _pods = web_app
    now = time.gmtime(time.time() - 3600)
    start = time.strftime("%Y-%m-%dT%H:%M", now)
    end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 60))
    page = text(web.get(f"/projects/{ns}/apps/web/monitoring?range=custom&start={start}&end={end}"))
    assert 'class="line s' in page and 'hx-trigger="every 30s"' not in page
    wrong = web.get(f"/projects/{ns}/apps/web/monitoring?range=custom&start={end}&end={start}")
    assert wrong.status_code == 422
    assert re.search(r'id="end-error"[^>]*>The end must come after the start', text(wrong))
    garbage = web.get(f"/projects/{ns}/apps/web/monitoring?range=custom&start=yesterday&end=")
    assert garbage.status_code == 422 and "such as 2026-12-01T08:00" in text(garbage)


def test_a_new_app_with_an_old_name_never_shows_the_old_apps_data(web_app, web, apps_api, metrics_app):
    ns, pods = web_app
    # an earlier 'web' ran a day ago, with huge figures under a pod name of the same shape
    now = int(time.time())
    old = PodUsage(ns, "web-6b7c8d9f00-zzzzz", cpu_cores=7.0, memory_bytes=900 * MIB, since=now - 90000)
    write(metrics_app.client(), pod_points(old, every(now - 86400, now - 80000, 60)))
    page = text(web.get(f"/projects/{ns}/apps/web/monitoring?range=7d"))
    assert "zzzzz" not in page and "7 cores" not in page
    assert all(pod in page for pod in pods)


def test_an_app_without_points_says_no_data(kproject, login, web, apps_api, metrics_app):
    login("dev")
    assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form("quiet", replicas=1)).status_code == 302
    page = text(web.get(f"/projects/{kproject.name}/apps/quiet/monitoring"))
    assert page.count("No data in this range.") == 3 and "<svg" not in page


def test_influxdb_down_says_unavailable_and_recovers(web_app, web, metrics_app):
    ns, _pods = web_app
    metrics_app.stop()
    try:
        down = web.get(f"/projects/{ns}/apps/web/monitoring", htmx="app-monitoring")
        assert down.status_code == 200
        assert "Metrics unavailable" in text(down) and "come back by themselves" in text(down)
        assert 'hx-trigger="every 30s"' in text(down)  # it keeps asking
        card = web.get("/dashboard/usage", htmx="usage")
        assert card.status_code == 200 and "Metrics unavailable" in text(card)
    finally:
        metrics_app.start()
    assert 'class="line s' in text(web.get(f"/projects/{ns}/apps/web/monitoring", htmx="app-monitoring"))


def test_not_configured_says_so(kproject, login, web, apps_api, app):
    app.config["INFLUXDB_URL"] = ""
    login("dev")
    assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form("web", replicas=1)).status_code == 302
    page = text(web.get(f"/projects/{kproject.name}/apps/web/monitoring"))
    assert "HUMMER_INFLUXDB_URL" in page


def test_node_pages_and_the_dashboard_card(web_app, web, login, metrics_app):
    ns, pods = web_app
    now = int(time.time())
    write(metrics_app.client(), host_points(HostUsage("hm-node1", cpu_busy=35.0), every(now - 1800, now, 10)))
    web.post("/logout", {})
    login("root")
    page = text(web.get("/cluster/nodes/hm-node1/metrics?range=1h"))
    drawn = charts(page)
    assert set(drawn) == {"cpu", "memory", "disk", "network"} and all("<polyline" in s for s in drawn.values())
    assert "35.0 %" in drawn["cpu"] and "2 GiB" in drawn["memory"] and "30 GiB" in drawn["disk"]
    card = text(web.get("/dashboard/usage", htmx="usage"))
    assert "hm-node1" in card and "35 %" in card
    assert f"{ns}/web" in card  # the app using the most CPU
    web.post("/logout", {})
    login("dev")
    assert web.get("/cluster/nodes/hm-node1/metrics").status_code == 403
    dev_card = text(web.get("/dashboard/usage", htmx="usage"))
    assert f"{ns}/web" in dev_card and "node-usage" not in dev_card


def test_many_pods_draw_the_busiest_ten_and_count_the_rest_in_all_pods(web_app, web, metrics_app):
    ns, pods = web_app
    now = int(time.time())
    # twelve more pods of the same Deployment (a rollout's worth), each busier than the last
    extra = [f"web-7f8e9d0c1b-x{n:04d}" for n in range(12)]
    points = []
    for n, pod in enumerate(extra):
        points += pod_points(PodUsage(ns, pod, cpu_cores=1.0 + 0.1 * n, memory_bytes=(200 + n) * MIB,
                                      since=now - 3600), every(now - 1800, now, 10))
    write(metrics_app.client(), points)
    cpu = charts(text(web.get(f"/projects/{ns}/apps/web/monitoring?range=1h")))["cpu"]
    legend = re.search(r'<ul class="legend">(.*?)</ul>', cpu, re.S).group(1)
    assert cpu.count("<polyline") == 11  # all pods, and the ten busiest
    assert all(pod in legend for pod in extra[2:]) and not any(pod in legend for pod in [*extra[:2], *pods])
    assert "all pods <strong>19.35 cores</strong>" in legend  # 0.25 + 0.5 + (1.0 + ... + 2.1): every pod
    assert "The 10 pods with the highest mean are drawn; 4 more pods count in “all pods”." in html.unescape(cpu)
