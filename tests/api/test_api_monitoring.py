"""Monitoring through /api/v1 with a token, as a script would read and set it.

Metrics (the real API server and the suite's real InfluxDB, points written by the Telegraf
stand-in): an app's charts as JSON with the values and units written; a wrong range a 422
beside its field; InfluxDB not configured, or not answering, a 503 problem saying so.
Alert rules (the portal's rows: no cluster): created, listed with their state, replaced,
changed, deleted, each audited with the token's name; a wrong field a 422 naming it, as the
rule form; a viewer's token refused on every change and shown no webhook URL; another
project's token a 404; the alert history in pages."""
from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import AlertEvent, AlertRule, AlertState, AuditEvent, utcnow
from tests.api.conftest import bearer
from tests.monitoring.conftest import metrics_app  # noqa: F401 (fixture)
from tests.monitoring.test_charts import web_app  # noqa: F401 (fixture: 'web', two pods, 30 minutes of usage)
from tests.support.processes import free_port
from tests.support.telegraf import MIB

RULES = "/api/v1/projects/alpha/apps/web/alerts/rules"
GOOD = {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.5", "for_": "5m",
        "webhook_url": "https://hooks.example/ops", "enabled": True}


def people_of(project) -> dict:
    return {m.user.username: m.user for m in project.memberships}


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    return response.get_json()


# ----------------------------------------------------------------------------- metrics

def by_label(chart: dict) -> dict[str, list]:
    return {s["label"]: s["points"] for s in chart["series"]}


def values(points: list) -> list[float]:
    assert points and all(len(p) == 2 for p in points)
    return [v for _t, v in points]


def typical(points: list) -> float:
    """The median value: a rate's first and last buckets may hold part of a step."""
    return statistics.median(v for _t, v in points)


def test_an_apps_metrics_are_the_points_written(web_app, client, kproject, make_token):  # noqa: F811
    ns, pods = web_app
    secret = make_token(people_of(kproject)["vic"], "viewer")
    response = client.get(f"/api/v1/projects/{ns}/apps/web/metrics?range=1h", headers=bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert (body["project"], body["app"], body["range"], body["step"], body["rollup"]) == (ns, "web", "1h", 20,
                                                                                          False)
    charts = {c["key"]: c for c in body["charts"]}
    assert set(charts) == {"cpu", "memory", "network"}
    assert {k: c["unit"] for k, c in charts.items()} == {"cpu": "cores", "memory": "bytes", "network": "bytes/s"}
    assert charts["cpu"]["title"] == "CPU" and charts["cpu"]["more"] == 0

    cpu, memory, network = (by_label(charts[k]) for k in ("cpu", "memory", "network"))
    assert set(cpu) == {"all pods", *pods} and set(memory) == {"all pods", *pods}
    # pod i used 0.25 * (i + 1) cores and 64 + 32 * i MiB throughout the last 30 minutes
    for i, pod in enumerate(pods):
        assert values(cpu[pod]) == pytest.approx([0.25 * (i + 1)] * len(cpu[pod]))
        assert values(memory[pod]) == pytest.approx([(64 + 32 * i) * MIB] * len(memory[pod]))
    assert values(cpu["all pods"]) == pytest.approx([0.75] * len(cpu["all pods"]))
    assert values(memory["all pods"]) == pytest.approx([160 * MIB] * len(memory["all pods"]))
    # each pod received 2000 and sent 1000 bytes a second
    assert typical(network["received"]) == pytest.approx(4000) and typical(network["sent"]) == pytest.approx(2000)
    # [time, value] pairs, a point every 20 s over the 30 minutes written (about 90)
    times = [t for t, _v in cpu["all pods"]]
    assert times == sorted(times) and all(t % 20 == 0 for t in times)
    assert 80 <= len(times) <= 92


def test_a_wrong_range_is_a_422_beside_the_field(web_app, client, kproject, make_token):  # noqa: F811
    ns, _pods = web_app
    secret = make_token(people_of(kproject)["dev"])
    url = f"/api/v1/projects/{ns}/apps/web/metrics"
    wrong = problem_of(client.get(url + "?range=2h", headers=bearer(secret)), 422)
    assert wrong["errors"][0]["field"] == "range" and "1 hour, 6 hours" in wrong["errors"][0]["message"]
    backwards = client.get(url + "?range=custom&start=2026-12-01T08:00&end=2026-12-01T07:00", headers=bearer(secret))
    assert problem_of(backwards, 422)["errors"] == [
        {"field": "end", "pointer": "/end", "message": "The end must come after the start."}]
    custom = client.get(url + "?range=custom&start=2020-01-01T08:00&end=2020-01-01T09:00", headers=bearer(secret))
    assert custom.status_code == 200 and custom.get_json()["range"] == "custom"
    assert all(s["points"] == [] for c in custom.get_json()["charts"] for s in c["series"])  # before the app


def test_influxdb_absent_or_silent_is_a_503_problem(web_app, app, client, kproject, make_token):  # noqa: F811
    ns, _pods = web_app
    secret = make_token(people_of(kproject)["dev"])
    url = f"/api/v1/projects/{ns}/apps/web/metrics?range=1h"
    saved = app.config["INFLUXDB_URL"]
    try:
        app.config["INFLUXDB_URL"] = ""
        absent = problem_of(client.get(url, headers=bearer(secret)), 503)
        assert "Metrics are not configured" in absent["detail"] and "HUMMER_INFLUXDB_URL" in absent["detail"]
        app.config["INFLUXDB_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        silent = problem_of(client.get(url, headers=bearer(secret)), 503)
        assert "Metrics unavailable: InfluxDB did not answer" in silent["detail"]
    finally:
        app.config["INFLUXDB_URL"] = saved
    assert client.get(url, headers=bearer(secret)).status_code == 200


# ----------------------------------------------------------------------------- alert rules

def rules() -> list[AlertRule]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(AlertRule).order_by(AlertRule.id)))


def test_rules_are_created_listed_changed_and_deleted_with_the_tokens_audit(client, team, make_token):
    project, people = team
    secret = make_token(people["dev"], name="ci-alerts")
    made = client.post(RULES, json=GOOD, headers=bearer(secret))
    assert made.status_code == 201, made.get_data(as_text=True)
    rule = made.get_json()
    assert {k: rule[k] for k in ("app", "kind", "metric", "unit", "comparison", "threshold", "threshold_text",
                                 "for_", "for_seconds", "webhook", "webhook_url", "enabled", "created_by")} == {
        "app": "web", "kind": "metric", "metric": "cpu", "unit": "cores", "comparison": ">", "threshold": 0.5,
        "threshold_text": "0.5", "for_": "5m", "for_seconds": 300, "webhook": True,
        "webhook_url": "https://hooks.example/ops", "enabled": True, "created_by": "dev"}
    assert rule["summary"] == "CPU (cores) > 0.5 for 5m" and rule["state"]["status"] == "ok"
    assert [(r.metric, r.threshold, r.for_seconds) for r in rules()] == [("cpu", 0.5, 300)]

    # the evaluator found it breached: the list says so, with the value and since when
    since = utcnow().replace(microsecond=0) - timedelta(minutes=7)
    db.session.add(AlertState(rule_id=rule["id"], status="firing", since=since, value=0.8, evaluated_at=utcnow()))
    db.session.add(AlertEvent(rule_id=rule["id"], project_id=project.id, app="web", kind="metric", metric="cpu",
                              summary="CPU > 0.5 for 5m", threshold=0.5, value=0.8, firing_since=since))
    db.session.commit()
    listed = client.get(RULES, headers=bearer(secret)).get_json()
    assert listed["firing"] == 1 and len(listed["items"]) == 1
    state = listed["items"][0]["state"]
    assert (state["status"], state["value"], state["since"]) == ("firing", 0.8, since.isoformat() + "Z")

    # a restarts rule, threshold and duration as numbers
    second = client.post(RULES, json={"kind": "restarts", "comparison": ">", "threshold": 3, "for_": 0},
                         headers=bearer(secret))
    assert second.status_code == 201 and second.get_json()["summary"] == "Restarts > 3"
    assert second.get_json()["unit"] == "" and second.get_json()["webhook_url"] == ""

    url = f"{RULES}/{rule['id']}"
    replaced = client.put(url, json={**GOOD, "metric": "memory", "threshold": "512Mi", "webhook_url": ""},
                          headers=bearer(secret))
    assert replaced.status_code == 200, replaced.get_data(as_text=True)
    assert (replaced.get_json()["threshold"], replaced.get_json()["unit"]) == (512 * MIB, "bytes")
    assert replaced.get_json()["state"]["status"] == "ok"  # judged afresh: the firing alert ended
    db.session.expire_all()
    assert db.session.scalar(db.select(AlertEvent.note)) == "rule changed"

    changed = client.patch(url, json={"enabled": False, "for_": "90s"}, headers=bearer(secret)).get_json()
    assert (changed["enabled"], changed["for_"], changed["threshold_text"]) == (False, "90s", "512Mi")
    assert changed["state"]["status"] == "disabled"
    assert client.get(url, headers=bearer(secret)).get_json()["summary"] == "Memory (bytes) > 512Mi for 90s"

    gone = client.delete(url, headers=bearer(secret))
    assert gone.status_code == 200 and gone.get_json() == {"deleted": rule["id"]}
    assert [r.kind for r in rules()] == ["restarts"]
    assert problem_of(client.get(url, headers=bearer(secret)), 404)["detail"] == "No such alert rule."

    db.session.expire_all()
    audited = [(e.action, e.object_name, e.actor_name, e.via_token, e.detail) for e in db.session.scalars(
        db.select(AuditEvent).where(AuditEvent.action.like("alert.%")).order_by(AuditEvent.id))]
    assert audited == [
        ("alert.create", "web", "dev", "ci-alerts", "CPU (cores) > 0.5 for 5m"),
        ("alert.create", "web", "dev", "ci-alerts", "Restarts > 3"),
        ("alert.update", "web", "dev", "ci-alerts", "CPU (cores) > 0.5 for 5m -> Memory (bytes) > 512Mi for 5m"),
        ("alert.update", "web", "dev", "ci-alerts", "Memory (bytes) > 512Mi for 5m -> Memory (bytes) > 512Mi for 90s"),
        ("alert.delete", "web", "dev", "ci-alerts", "Memory (bytes) > 512Mi for 90s"),
    ]


@pytest.mark.parametrize("changes,field,message", [
    ({"kind": "bogus"}, "kind", "Choose a metric, restarts or replicas unavailable."),
    ({"metric": "disk"}, "metric", "Choose one of: CPU (cores), Memory (bytes)"),
    ({"comparison": ">="}, "comparison", "Choose above (>) or below (<)."),
    ({"threshold": ""}, "threshold", "Give the threshold."),
    ({"threshold": "lots"}, "threshold", "'lots' is not a number; write it like 0.5, 250m."),
    ({"kind": "restarts", "threshold": 1.5}, "threshold", "A whole number from 0 to 1,000,000."),
    ({"for_": "5 minutes"}, "for_", "A duration such as 0, 90s, 5m or 1h."),
    ({"for_": "25h"}, "for_", "At most 24 hours (24h)."),
    ({"webhook_url": "ftp://hooks.example/x"}, "webhook_url", "An http:// or https:// URL"),
    ({"webhook_url": "https://h.example/" + "x" * 2000}, "webhook_url", "At most 2000 characters."),
    ({"enabled": "perhaps"}, "enabled", "boolean"),              # the body's shape (SpecTree)
    ({"threshold": ["0.5"]}, "threshold", "string"),
])
def test_a_wrong_field_is_a_422_naming_it_and_nothing_is_stored(client, team, make_token, changes, field,
                                                                 message):
    project, people = team
    secret = make_token(people["dev"])
    body = problem_of(client.post(RULES, json={**GOOD, **changes}, headers=bearer(secret)), 422)
    beside = [e["message"] for e in body["errors"] if e["field"].removeprefix("body-").split("-")[0] == field]
    assert any(message in m for m in beside), body
    assert rules() == []


def test_a_viewers_token_reads_and_changes_nothing(client, team, make_token):
    project, people = team
    made = client.post(RULES, json=GOOD, headers=bearer(make_token(people["dev"]))).get_json()
    url = f"{RULES}/{made['id']}"
    for secret in (make_token(people["vic"], "viewer"), make_token(people["dev"], "viewer")):
        listed = client.get(RULES, headers=bearer(secret)).get_json()["items"]
        assert [(r["id"], r["webhook"], r["webhook_url"]) for r in listed] == [(made["id"], True, None)]
        for method, target, body in (("POST", RULES, GOOD), ("PUT", url, GOOD), ("PATCH", url, {"enabled": False}),
                                     ("DELETE", url, None)):
            refused = client.open(target, method=method, json=body, headers=bearer(secret))
            problem_of(refused, 403)
    assert [(r.threshold_text, r.enabled) for r in rules()] == [("0.5", True)]
    assert db.session.scalar(db.select(db.func.count(AuditEvent.id)).where(AuditEvent.action.like("alert.%"))) == 1


def test_another_projects_token_finds_nothing(client, team, make_project, make_token):
    project, people = team
    make_project("beta", {people["dev"]: "developer"})
    made = client.post(RULES, json=GOOD, headers=bearer(make_token(people["dev"]))).get_json()
    beta_only = make_token(people["dev"], "developer", ["beta"])
    for method, target in (("GET", RULES), ("GET", f"{RULES}/{made['id']}"), ("DELETE", f"{RULES}/{made['id']}"),
                           ("GET", "/api/v1/projects/alpha/apps/web/alerts/history")):
        problem_of(client.open(target, method=method, headers=bearer(beta_only)), 404)
    # a rule of alpha's 'web' is not found under beta's 'web' either
    beta_rule = f"/api/v1/projects/beta/apps/web/alerts/rules/{made['id']}"
    problem_of(client.get(beta_rule, headers=bearer(beta_only)), 404)
    assert len(rules()) == 1


def test_the_history_comes_in_pages_newest_first(client, team, make_token):
    project, people = team
    secret = make_token(people["vic"], "viewer")
    now = utcnow()
    for minutes in (30, 20, 10):
        db.session.add(AlertEvent(project_id=project.id, app="web", kind="metric", metric="memory",
                                  summary=f"fired {minutes} minutes ago", threshold=1.0, value=2.0 * MIB,
                                  firing_since=now - timedelta(minutes=minutes),
                                  resolved_at=None if minutes == 10 else now - timedelta(minutes=minutes - 5)))
    db.session.add(AlertEvent(project_id=project.id, app="other", kind="restarts", summary="not web's"))
    db.session.commit()
    url = "/api/v1/projects/alpha/apps/web/alerts/history"
    first = client.get(url + "?per_page=2", headers=bearer(secret)).get_json()
    assert first["total"] == 3 and first["links"]["prev"] is None
    assert [e["summary"] for e in first["items"]] == ["fired 10 minutes ago", "fired 20 minutes ago"]
    assert first["items"][0]["resolved_at"] is None and first["items"][1]["resolved_at"] is not None
    assert (first["items"][0]["unit"], first["items"][0]["value"]) == ("bytes", 2.0 * MIB)
    second = client.get(first["links"]["next"], headers=bearer(secret)).get_json()
    assert [e["summary"] for e in second["items"]] == ["fired 30 minutes ago"] and second["links"]["next"] is None
    problem_of(client.get(url + "?per_page=500", headers=bearer(secret)), 422)
