"""The autoscalers' history: the portal's recorder (services/metrics/autoscalers.py) against
the real InfluxDB, and the Monitoring tab's "Autoscaler replicas" chart following the real
HPA loop (the controller-manager's HPA controller reading the simulated kubelet's usage, as
in tests/apps/test_autoscale_loop.py) while the recorder ticks on a controlled clock."""
from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from portal.domain.metrics import Autoscaler
from portal.services.metrics import autoscalers
from tests.apps.test_autoscale_loop import APP, SELECTOR, status_of
from tests.monitoring.conftest import deploy_form, ready
from tests.monitoring.test_charts import charts
from tests.support.waiting import wait_for
from tests.support.web import text

# One portal process's write of one minute, as its recorder makes it.
ONE_PROCESS = """
import sys
from datetime import datetime, timezone
from portal.adapters.influx import Influx
from portal.adapters.kube.views import HpaView
from portal.services.metrics import autoscalers
url, database, current, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
hpa = HpaView("shop", "web", "web", 1, 2, 5, 70, current, None, desired_replicas=current)
with Influx(url, database) as client:
    client.write(autoscalers.points([hpa], datetime.fromtimestamp(at, timezone.utc)), time_precision="s")
"""


def test_two_processes_writing_the_same_minute_leave_one_point(metrics_app):
    minute = int(time.time()) // 60 * 60 - 600
    # two processes at once, 5 s and 50 s into the same minute; then a third the next minute
    both = [subprocess.Popen([sys.executable, "-c", ONE_PROCESS, metrics_app.url, metrics_app.database, "3",
                              str(minute + offset)]) for offset in (5, 50)]
    assert [p.wait(60) for p in both] == [0, 0]
    subprocess.run([sys.executable, "-c", ONE_PROCESS, metrics_app.url, metrics_app.database, "4",
                    str(minute + 65)], check=True, timeout=60)
    rows = metrics_app.query(f'SELECT * FROM "{Autoscaler.NAME}"', epoch="s")
    assert [(r["time"], r[Autoscaler.CURRENT], r[Autoscaler.DESIRED], r[Autoscaler.MIN], r[Autoscaler.MAX],
             r[Autoscaler.TAG_NAMESPACE], r[Autoscaler.TAG_HPA]) for r in rows] == [
        (minute, 3, 3, 2, 5, "shop", "web"), (minute + 60, 4, 4, 2, 5, "shop", "web")]


def test_each_process_records_at_most_once_a_minute(app, metrics_app, monkeypatch):
    calls = []
    monkeypatch.setattr(autoscalers, "record", lambda now=None: calls.append(now) or 1)
    monkeypatch.setattr(autoscalers, "_next", 0.0)
    assert autoscalers.sweep(app) == 1
    assert autoscalers.sweep(app) == 0 and len(calls) == 1  # the next beat, a second later
    monkeypatch.setattr(autoscalers, "_next", time.monotonic() - 1)  # a minute on
    assert autoscalers.sweep(app) == 1 and len(calls) == 2
    app.config["INFLUXDB_URL"] = ""
    monkeypatch.setattr(autoscalers, "_next", 0.0)
    assert autoscalers.sweep(app) == 0 and len(calls) == 2  # no InfluxDB: nothing to do


def replicas_over_time(svg: str) -> list[tuple[str, int, int]]:
    """The chart's hover titles: (time, current, desired) per minute, in order."""
    found = []
    for title in re.findall(r"<title>(\d{4}-\d\d-\d\d \d\d:\d\d UTC\n[^<]*)</title>", html.unescape(svg)):
        when, *rows = title.split("\n")
        values = dict(re.fullmatch(r"(\w+): (\d+) replicas?", row).groups() for row in rows)
        found.append((when, int(values["current"]), int(values["desired"])))
    return found


@pytest.mark.kube
def test_the_chart_shows_the_autoscaler_scaling_up(kproject, login, web, app, apps_api, kubelet, metrics_app):
    ns = kproject.name
    login("dev")
    data = deploy_form(APP, replicas=2, autoscale="y", min_replicas="2", max_replicas="5", cpu_target="70")
    assert web.post(f"/projects/{ns}/apps/new", data).status_code == 302
    ready(apps_api, ns, APP, 2)
    # The recorder's clock starts 3 hours ago and moves a minute at each tick; the app's charts
    # start before that (the hummer.io/metrics-since annotation ages it).
    start = int(time.time()) // 60 * 60 - 3 * 3600
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 600))
    apps_api.patch_namespaced_deployment(APP, ns, {"metadata": {"annotations": {"hummer.io/metrics-since": since}}})
    clock = iter(range(start, start + 3 * 3600 - 60, 60))
    written = []

    def tick() -> int:
        with app.app_context():
            written.append(autoscalers.record(now=datetime.fromtimestamp(next(clock), timezone.utc)))
        return written[-1]

    def tick_until(want):
        def probe():
            tick()
            s = status_of(web, ns)
            return s if s and want(s) else None
        return probe

    wait_for(lambda: (lambda s: s and s["cpu"] is not None)(status_of(web, ns)), timeout=60, interval=0.5,
             what="the autoscaler's first CPU figure")
    wait_for(tick, what="the first point (once the HPAs' cache has its list)")
    for _ in range(2):  # three quiet minutes at the minimum
        tick()
    kubelet.set_usage(ns, SELECTOR, cpu="300m")
    wait_for(tick_until(lambda s: s["current"] == 5 and s["desired"] == 5), timeout=60, interval=0.5,
             what="5 current, 5 desired")
    tick_until(lambda s: True)()
    assert set(written) <= {0, 1}  # one HPA, one point a minute (0 while the cache filled)

    end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 60))
    page = text(web.get(f"/projects/{ns}/apps/{APP}/monitoring?range=custom&start="
                        f"{time.strftime('%Y-%m-%dT%H:%M', time.gmtime(start - 300))}&end={end}"))
    drawn = charts(page)
    assert set(drawn) == {"cpu", "memory", "network", "autoscaler"}
    assert "Autoscaler replicas: current and desired" in drawn["autoscaler"]
    assert "<polyline" in drawn["autoscaler"]
    history = replicas_over_time(drawn["autoscaler"])
    assert len(history) == sum(written)  # a point a minute (a step of 60 s)
    assert history[0][1:] == (2, 2) and history[-1][1:] == (5, 5)
    currents = [c for _when, c, _d in history]
    assert currents == sorted(currents)  # the rise, never a fall
    assert all(d >= c for _when, c, d in history)  # desired leads, current follows
    legend = re.search(r'<ul class="legend">(.*?)</ul>', drawn["autoscaler"], re.S).group(1)
    assert re.search(r"current <strong>5 replicas</strong>.*desired <strong>5 replicas</strong>", legend, re.S)
    # the range of the last hour has none of those minutes: no data, the chart still there
    hour = text(web.get(f"/projects/{ns}/apps/{APP}/monitoring?range=1h"))
    assert "No data in this range." in charts(hour)["autoscaler"]


def test_an_app_without_an_autoscaler_has_no_autoscaler_chart(kproject, login, web, apps_api, metrics_app):
    login("dev")
    assert web.post(f"/projects/{kproject.name}/apps/new", deploy_form("plain", replicas=1)).status_code == 302
    page = text(web.get(f"/projects/{kproject.name}/apps/plain/monitoring"))
    assert set(charts(page)) == {"cpu", "memory", "network"}
    assert "Autoscaler replicas" not in page
