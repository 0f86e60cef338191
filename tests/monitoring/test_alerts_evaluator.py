"""The evaluator against the real InfluxDB, driven by the test's clock: points written by the
Telegraf stand-in, ticks at chosen times moving a rule through pending, firing and resolved
with its history; webhooks to loopback receivers (one that fails twice, one that hangs);
InfluxDB down; two evaluators sharing the database, exactly one judging per interval."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import AlertEvent, AlertLease, AlertState
from portal.services import alerts
from portal.services.alerts import evaluation
from portal.services.context import Actor
from tests.support.html import find
from tests.support.telegraf import MIB, HostUsage, PodUsage, every, host_points, pod_points, write
from tests.support.waiting import wait_for
from tests.support.web import text

RULE = {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.5", "for_": "2m", "webhook_url": "",
        "enabled": True}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


@pytest.fixture
def t0(metrics_app) -> int:
    """A minute boundary half an hour ago: the tests' clock starts there (points in the past)."""
    return (int(time.time()) - 1800) // 60 * 60


def busy_between(start: int, end: int, high: float, low: float = 0.1):
    return lambda t: high if start <= t < end else low


@pytest.fixture
def web_pods(metrics_app, team, t0):
    """Two pods of app 'web' in alpha at 0.3 cores each from t0 to t0+300 (0.6 together),
    0.05 otherwise; a pod of 'web2' and one of 'web' in another namespace, both busy, that
    must not count."""
    times = every(t0 - 600, t0 + 900, 10)
    points = []
    for pod in ("web-5d9c7f-abcde", "web-5d9c7f-fghij"):
        points += pod_points(PodUsage("alpha", pod, cpu_cores=busy_between(t0, t0 + 300, 0.3, 0.05),
                                      memory_bytes=100 * MIB, since=t0 - 3600), times)
    points += pod_points(PodUsage("alpha", "web2-6f7a8b-zzzzz", cpu_cores=4.0, since=t0 - 3600), times)
    points += pod_points(PodUsage("beta", "web-6f7a8b-yyyyy", cpu_cores=4.0, since=t0 - 3600), times)
    write(metrics_app.client(), points)
    return team


def state_of(rule_id: int) -> AlertState | None:
    db.session.expire_all()
    return db.session.get(AlertState, rule_id)


def events() -> list[AlertEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AlertEvent).order_by(AlertEvent.id)))


def test_a_metric_rule_goes_pending_firing_resolved_with_its_history(web_pods, t0, web, login):
    project, people = web_pods
    rule = alerts.create(Actor(people["dev"]), alerts.RuleTarget.of_app(project, "web"), **RULE)
    quiet = evaluation.tick(at(t0 - 60))
    assert quiet.judged == 1 and quiet.problems == []
    assert state_of(rule.id).status == "ok" and state_of(rule.id).value == pytest.approx(0.1)

    evaluation.tick(at(t0 + 60))              # the last minute: 0.3 + 0.3 cores
    s = state_of(rule.id)
    assert (s.status, s.since, s.value) == ("pending", at(t0 + 60).replace(tzinfo=None), pytest.approx(0.6))
    assert evaluation.tick(at(t0 + 120)).fired == []          # held 60 s of the 120
    fired = evaluation.tick(at(t0 + 180))                     # held 120 s: fires
    assert len(fired.fired) == 1
    event, = events()
    assert (event.rule_id, event.project_id, event.app, event.resolved_at) == (rule.id, project.id, "web", None)
    assert event.summary == "CPU (cores) > 0.5 for 2m" and event.value == pytest.approx(0.6)
    assert event.pending_since == at(t0 + 60).replace(tzinfo=None)
    assert event.firing_since == at(t0 + 180).replace(tzinfo=None)
    assert evaluation.tick(at(t0 + 240)).fired == []          # still firing: no second event

    login("vic")
    listed = text(web.get("/projects/alpha/apps/web/alerts", htmx="alert-rules"))
    assert "1 alert firing" in find(listed, id="alerts-firing").text
    assert "firing" in find(listed, id=f"alert-rule-{rule.id}").text
    assert "0.6 cores" in find(listed, id=f"alert-rule-{rule.id}").text
    card = text(web.get("/dashboard/alerts", htmx="alerts"))
    assert "alpha/web" in find(card, id="alerts-firing-now").text

    resolved = evaluation.tick(at(t0 + 360))  # the minute after t0+300: 0.05 each
    assert resolved.resolved == [event.id]
    event, = events()
    assert event.resolved_at == at(t0 + 360).replace(tzinfo=None) and event.resolved_value == pytest.approx(0.1)
    assert state_of(rule.id).status == "ok" and state_of(rule.id).since is None
    history = text(web.get("/projects/alpha/apps/web/alerts/history"))
    row = find(history, id=f"alert-event-{event.id}").text
    assert "CPU (cores) > 0.5 for 2m" in row and "0.6 cores" in row and "0.1 cores" in row
    card = text(web.get("/dashboard/alerts", htmx="alerts"))
    assert find(card, id="no-alerts") is not None and "alpha/web" in find(card, id="alerts-resolved").text
    web.post("/logout", {})
    login("stranger")
    assert "alpha/web" not in text(web.get("/dashboard/alerts", htmx="alerts"))


def test_memory_network_and_a_node_rule_read_in_one_request(web_pods, t0, metrics_app, login, web):
    project, people = web_pods
    now = t0 + 120
    write(metrics_app.client(), host_points(HostUsage("hm-node1", disk_used=lambda t: 95 * 1024 ** 3),
                                            every(t0 - 300, t0 + 300, 10)))
    by, target = Actor(people["root"]), alerts.RuleTarget.of_app(project, "web")
    memory = alerts.create(by, target, **{**RULE, "metric": "memory", "threshold": "150Mi", "for_": "0"})
    rx = alerts.create(by, target, **{**RULE, "metric": "rx", "comparison": "<", "threshold": "1k", "for_": "0"})
    disk = alerts.create(by, alerts.RuleTarget.of_node("hm-node1"),
                         **{**RULE, "metric": "disk", "threshold": "90", "for_": "0"})
    other = alerts.create(by, alerts.RuleTarget.of_node("hm-node2"),
                          **{**RULE, "metric": "disk", "threshold": "90", "for_": "0"})
    result = evaluation.tick(at(now))
    assert result.judged == 4 and result.problems == []
    assert state_of(memory.id).value == pytest.approx(200 * MIB) and state_of(memory.id).status == "firing"
    assert state_of(rx.id).value == pytest.approx(4000) and state_of(rx.id).status == "ok"   # 2000 B/s a pod
    assert state_of(disk.id).value == pytest.approx(95) and state_of(disk.id).status == "firing"
    assert state_of(other.id).value is None and state_of(other.id).status == "ok"          # no data never fires
    login("root")
    node = text(web.get("/cluster/nodes/hm-node1/alerts", htmx="alert-rules"))
    assert "Disk used on / (%) &gt; 90" in node and "95 %" in find(node, id="alerts-firing").text
    card = text(web.get("/dashboard/alerts", htmx="alerts"))
    assert "hm-node1" in find(card, id="alerts-firing-now").text and find(card, id="alerts-evaluated")


class Receiver:
    """A loopback HTTP server recording each POST (its arrival time and JSON body), answering
    500 to the first `fail` of them and hanging on every one while `hang` is set."""

    def __init__(self, fail: int = 0, hang: bool = False):
        self.calls: list[tuple[float, dict]] = []
        self.fail, self.release = fail, threading.Event()
        if not hang:
            self.release.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.calls.append((time.monotonic(), body))
                receiver.release.wait(30)
                failing = len(receiver.calls) <= receiver.fail
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook?k=1"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kw) -> Receiver:
        made.append(Receiver(**kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


def test_webhooks_are_retried_with_backoff_until_accepted(web_pods, t0, app, receivers):
    app.config.update(ALERT_WEBHOOK_RETRIES=3, ALERT_WEBHOOK_BACKOFF=0.2, ALERT_WEBHOOK_TIMEOUT=5)
    project, people = web_pods
    flaky = receivers(fail=2)
    rule = alerts.create(Actor(people["dev"]), alerts.RuleTarget.of_app(project, "web"),
                         **{**RULE, "for_": "0", "webhook_url": flaky.url})
    began = time.monotonic()
    evaluation.tick(at(t0 + 60))
    assert time.monotonic() - began < 3    # queued, not posted, by the tick
    wait_for(lambda: len(flaky.calls) == 3, timeout=15, what="two failures, then the accepted try")
    (first, _), (second, _), (third, body) = flaky.calls
    assert third - second >= 0.4 - 0.05, "urllib3's backoff: 0.2 x 2 before the second retry"
    assert body == {"rule": {"id": rule.id, "kind": "metric", "metric": "cpu", "comparison": ">", "threshold": 0.5,
                             "for_seconds": 0, "summary": "CPU (cores) > 0.5"},
                    "target": {"project": "alpha", "app": "web"}, "state": "firing",
                    "value": pytest.approx(0.6), "threshold": 0.5,
                    "at": at(t0 + 60).strftime("%Y-%m-%dT%H:%M:%SZ")}
    evaluation.tick(at(t0 + 360))
    wait_for(lambda: len(flaky.calls) == 4, timeout=15, what="the resolved alert's webhook")
    assert flaky.calls[-1][1]["state"] == "resolved" and flaky.calls[-1][1]["value"] == pytest.approx(0.1)
    print(f"webhook tries at +0, +{second - first:.2f} s, +{third - first:.2f} s")


def test_a_hanging_webhook_holds_neither_the_evaluator_nor_a_page(web_pods, t0, app, receivers, login, web):
    app.config.update(ALERT_WEBHOOK_RETRIES=0, ALERT_WEBHOOK_TIMEOUT=2)
    project, people = web_pods
    stuck = receivers(hang=True)
    alerts.create(Actor(people["dev"]), alerts.RuleTarget.of_app(project, "web"),
                  **{**RULE, "for_": "0", "webhook_url": stuck.url})
    began = time.monotonic()
    assert len(evaluation.tick(at(t0 + 60)).fired) == 1
    ticked = time.monotonic() - began
    wait_for(lambda: stuck.calls, timeout=10, what="the webhook to arrive (and hang)")
    login("dev")
    began = time.monotonic()
    assert web.get("/projects/alpha/apps/web/alerts").status_code == 200
    assert web.get("/dashboard/alerts", htmx="alerts").status_code == 200
    paged = time.monotonic() - began
    assert ticked < 3 and paged < 3, (ticked, paged)
    print(f"tick {ticked:.2f} s and two pages {paged:.2f} s while the receiver hangs")


def test_influxdb_down_changes_nothing_and_no_page_fails(web_pods, t0, metrics_app, login, web):
    project, people = web_pods
    target = alerts.RuleTarget.of_app(project, "web")
    firing = alerts.create(Actor(people["dev"]), target, **{**RULE, "for_": "0"})
    pending = alerts.create(Actor(people["dev"]), target, **{**RULE, "threshold": "0.55", "for_": "1h"})
    evaluation.tick(at(t0 + 60))
    assert (state_of(firing.id).status, state_of(pending.id).status) == ("firing", "pending")
    metrics_app.stop()
    try:
        down = evaluation.tick(at(t0 + 400))      # the data would resolve both now
        assert down.judged == 0 and "InfluxDB did not answer" in down.problems[0]
        assert (state_of(firing.id).status, state_of(pending.id).status) == ("firing", "pending")
        assert [e.resolved_at for e in events()] == [None]
        db.session.expire_all()
        assert "InfluxDB did not answer" in db.session.get(AlertLease, evaluation.LEASE_ID).problem
        login("root")
        for url in ("/projects/alpha/apps/web/alerts", "/projects/alpha/apps/web/alerts/history",
                    "/dashboard/alerts", "/cluster/nodes/hm-node1/alerts", "/"):
            assert web.get(url).status_code == 200, url
        assert "could not read: InfluxDB did not answer" in text(web.get("/dashboard/alerts", htmx="alerts"))
    finally:
        metrics_app.start()
    back = evaluation.tick(at(t0 + 400))
    assert back.problems == [] and len(back.resolved) == 1
    assert (state_of(firing.id).status, state_of(pending.id).status) == ("ok", "ok")


def test_two_evaluators_exactly_one_judges_each_interval(web_pods, t0, app, tmp_path):
    """Two portal instances on one database, each trying the lease every 10 s of the test's
    clock at the same moment: one tick per 60 s, by either."""
    project, people = web_pods
    rule = alerts.create(Actor(people["dev"]), alerts.RuleTarget.of_app(project, "web"), **RULE)
    other = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "INFLUXDB_URL",
                                                       "INFLUXDB_DATABASE", "ALERT_INTERVAL")},
                        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "other")})
    assert app.config["ALERT_INTERVAL"] == 60
    ticks: list[tuple[int, str]] = []
    for step in range(0, 181, 10):
        barrier = threading.Barrier(2)
        results: dict[str, object] = {}

        def run(instance, who, now, barrier=barrier, results=results):
            barrier.wait()
            results[who] = evaluation.run_if_due(instance, now=now, who=who)
        threads = [threading.Thread(target=run, args=(instance, who, at(t0 + step)))
                   for instance, who in ((app, "a"), (other, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        winners = [who for who, result in results.items() if result is not None]
        assert len(winners) <= 1, (step, winners)
        ticks += [(step, who) for who in winners]
    assert [step for step, _who in ticks] == [0, 60, 120, 180]
    assert state_of(rule.id).evaluated_at == at(t0 + 180).replace(tzinfo=None)
    assert state_of(rule.id).status == "firing"     # pending from t0+60, held 2 minutes at t0+180
    with other.app_context():
        db.engine.dispose()
    print(f"ticks {ticks}")
