"""Alert rules through their forms: every field judged with its message beside it, nothing
stored from a wrong form; a rule added, shown, edited and deleted with its audit events; who
may do what; an edit ending a firing alert; an app's or project's deletion taking its rules."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AlertEvent, AlertRule, AlertState, AuditEvent, utcnow
from portal.services import alerts, projects
from portal.services.context import Actor
from tests.support.html import error_beside, field_value, find, form_data
from tests.support.web import text

NEW = "/projects/alpha/apps/web/alerts/new"
LIST = "/projects/alpha/apps/web/alerts"
GOOD = {"kind": "metric", "metric": "cpu", "comparison": ">", "threshold": "0.5", "for_": "5m",
        "webhook_url": "", "enabled": "y"}


def rules() -> list[AlertRule]:
    db.session.expire_all()
    return list(db.session.scalars(select(AlertRule).order_by(AlertRule.id)))


@pytest.mark.parametrize("changes,field,message", [
    ({"kind": "bogus"}, "kind", "Choose a metric, restarts or replicas unavailable."),
    ({"metric": "disk"}, "metric", "Choose one of: CPU (cores), Memory (bytes)"),
    ({"comparison": ">="}, "comparison", "Choose above (>) or below (<)."),
    ({"threshold": ""}, "threshold", "Give the threshold."),
    ({"threshold": "lots"}, "threshold", "'lots' is not a number; write it like 0.5, 250m."),
    ({"threshold": "-1"}, "threshold", "'-1' is not a number"),
    ({"metric": "memory", "threshold": "12 apples"}, "threshold", "write it like 512Mi, 2G, 1000000"),
    ({"kind": "restarts", "threshold": "1.5"}, "threshold", "A whole number from 0 to 1,000,000."),
    ({"kind": "unavailable", "threshold": "-2"}, "threshold", "A whole number from 0"),
    ({"for_": "5 minutes"}, "for_", "A duration such as 0, 90s, 5m or 1h."),
    ({"for_": "25h"}, "for_", "At most 24 hours (24h)."),
    ({"webhook_url": "ftp://hooks.example/x"}, "webhook_url", "An http:// or https:// URL"),
    ({"webhook_url": "http://"}, "webhook_url", "An http:// or https:// URL"),
    ({"webhook_url": "http://hooks example/x"}, "webhook_url", "A URL has no spaces or control characters."),
    ({"webhook_url": "http://hooks.example:0/x"}, "webhook_url", "The port must be from 1 to 65535."),
    ({"webhook_url": "http://hooks.example:99999/x"}, "webhook_url", "An http:// or https:// URL"),
    ({"webhook_url": "https://h.example/" + "x" * 2000}, "webhook_url", "At most 2000 characters."),
])
def test_each_field_is_judged_beside_it_and_nothing_is_stored(team, login, web, changes, field, message):
    login("dev")
    response = web.post(NEW, {**GOOD, **changes}, htmx="alert-rule-form")
    assert response.status_code == 422
    page = text(response)
    assert message in error_beside(page, field)
    # the form comes back with what was typed
    assert form_data(page, "alert-rule-form")["threshold"] == {**GOOD, **changes}["threshold"]
    assert rules() == []


def test_a_node_rule_takes_a_percentage_of_a_node_metric_only(team, login, web):
    login("root")
    url = "/cluster/nodes/hm-node1/alerts/new"
    page = text(web.post(url, {**GOOD, "metric": "disk", "threshold": "101"}))
    assert "A percentage from 0 to 100" in error_beside(page, "threshold")
    page = text(web.post(url, {**GOOD, "kind": "restarts", "threshold": "1"}))
    assert error_beside(page, "kind") == "Choose a metric."
    page = text(web.post(url, {**GOOD, "metric": "rx", "threshold": "1"}))
    assert "CPU busy (%), Memory used (%), Disk used on / (%)" in error_beside(page, "metric")
    assert rules() == []
    assert web.post(url, {**GOOD, "metric": "disk", "threshold": "92.5", "for_": "0"}).status_code == 302
    rule, = rules()
    assert (rule.node, rule.project_id, rule.metric, rule.threshold, rule.for_seconds) == ("hm-node1", None, "disk",
                                                                                           92.5, 0)
    listed = text(web.get("/cluster/nodes/hm-node1/alerts", htmx="alert-rules"))
    assert "Disk used on / (%) &gt; 92.5" in listed
    web.post("/logout", {})
    login("dev")
    assert web.post(url, {**GOOD, "metric": "disk"}).status_code == 403
    assert web.get("/cluster/nodes/hm-node1/alerts").status_code == 403


def test_a_rule_is_added_shown_edited_and_deleted_with_its_audit_events(team, login, web):
    login("dev")
    form = text(web.get(NEW))
    assert field_value(form, "for_") == "5m" and field_value(form, "enabled") == "y"
    response = web.post(NEW, {**GOOD, "threshold": "500m", "for_": "90s",
                              "webhook_url": "https://hooks.example/ops?token=s3cret"})
    assert response.status_code == 302 and response.headers["Location"] == LIST
    rule, = rules()
    assert (rule.kind, rule.metric, rule.threshold, rule.threshold_text, rule.for_seconds) == \
        ("metric", "cpu", 0.5, "500m", 90)
    listed = find(text(web.get(LIST)), id=f"alert-rule-{rule.id}").text
    assert "CPU (cores) > 500m for 90s" in listed and "token=s3cret" in listed and "ok" in listed

    edit = f"/projects/alpha/apps/web/alerts/{rule.id}/edit"
    page = text(web.get(edit))
    assert field_value(page, "threshold") == "500m" and field_value(page, "for_") == "90s"
    data = form_data(page, "alert-rule-form")
    data.update(threshold="2Gi", metric="memory", comparison="<")
    data.pop("enabled")                       # unticked: the rule is kept but not judged
    data.pop("csrf_token")                    # each session posts its own
    assert web.post(edit, data).status_code == 302
    rule, = rules()
    assert (rule.metric, rule.comparison, rule.threshold, rule.enabled) == ("memory", "<", 2 * 1024 ** 3, False)
    assert "disabled" in find(text(web.get(LIST)), id=f"alert-rule-{rule.id}").text

    # a viewer reads the rules, without their webhook's URL or the buttons, and may not change them
    web.post("/logout", {})
    login("vic")
    seen = text(web.get(LIST))
    assert "Memory (bytes) &lt; 2Gi" in seen and "s3cret" not in seen and "add-alert-rule" not in seen
    assert web.post(edit, data).status_code == 403
    assert web.post(f"/projects/alpha/apps/web/alerts/{rule.id}/delete", {}).status_code == 403
    web.post("/logout", {})
    login("stranger")
    assert web.get(LIST).status_code == 404

    web.post("/logout", {})
    login("dev")
    confirm = text(web.get(f"/projects/alpha/apps/web/alerts/{rule.id}/delete"))
    assert "Delete the alert rule “Memory (bytes) &lt; 2Gi for 90s”?" in confirm
    gone = web.post(f"/projects/alpha/apps/web/alerts/{rule.id}/delete", {}, htmx=f"alert-rule-{rule.id}")
    assert gone.status_code == 200 and text(gone) == ""
    assert rules() == []
    actions = [(e.action, e.object_name, e.project_name) for e in
               db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("alert.%")).order_by(AuditEvent.id))]
    assert actions == [("alert.create", "web", "alpha"), ("alert.update", "web", "alpha"),
                       ("alert.delete", "web", "alpha")]
    assert web.get("/projects/alpha/apps/web/alerts/999/edit").status_code == 404
    assert web.get("/projects/alpha/apps/Not_An_App/alerts").status_code == 404


def _firing(rule: AlertRule) -> AlertEvent:
    """The rule as the evaluator leaves one that fires (tests/monitoring/test_alerts_evaluator.py
    gets there through InfluxDB)."""
    event = AlertEvent(rule_id=rule.id, project_id=rule.project_id, app=rule.app, node=rule.node,
                       summary="CPU (cores) > 0.5 for 5m", kind=rule.kind, metric=rule.metric, comparison=">",
                       threshold=rule.threshold, value=0.8, pending_since=utcnow(), firing_since=utcnow())
    db.session.add(event)
    db.session.flush()
    db.session.add(AlertState(rule_id=rule.id, status="firing", since=utcnow(), value=0.8, event_id=event.id))
    db.session.commit()
    return event


def test_changing_or_deleting_a_firing_rule_ends_its_alert_and_keeps_the_history(team, login, web):
    project, people = team
    by = Actor(people["dev"])
    target = alerts.RuleTarget.of_app(project, "web")
    rule = alerts.create(by, target, **{**GOOD, "for_": "5m"})
    first = _firing(rule)
    login("dev")
    assert "1 alert firing" in text(web.get(LIST))
    alerts.update(by, rule, **{**GOOD, "threshold": "0.7"})
    db.session.expire_all()
    assert db.session.get(AlertEvent, first.id).note == "rule changed"
    assert db.session.get(AlertEvent, first.id).resolved_at is not None
    assert db.session.get(AlertState, rule.id) is None    # judged afresh from "ok"
    second = _firing(db.session.get(AlertRule, rule.id))
    alerts.delete(by, db.session.get(AlertRule, rule.id))
    db.session.expire_all()
    kept = db.session.get(AlertEvent, second.id)
    assert kept.rule_id is None and kept.note == "rule deleted" and kept.resolved_at is not None
    history = text(web.get("/projects/alpha/apps/web/alerts/history"))
    assert history.count("rule changed") == 1 and history.count("rule deleted") == 1
    assert "1 alert firing" not in text(web.get(LIST))


def test_a_deleted_project_takes_its_rules_and_history(team):
    project, people = team
    rule = alerts.create(Actor(people["olivia"]), alerts.RuleTarget.of_app(project, "web"), **GOOD)
    _firing(rule)
    projects.delete(project, "alpha", Actor(people["olivia"]))
    db.session.expire_all()
    assert rules() == [] and db.session.scalar(select(AlertEvent)) is None
    assert db.session.scalar(select(AlertState)) is None


def test_at_most_fifty_rules_an_app(team, login, web):
    project, people = team
    for _ in range(alerts.rules.RULES_MAX):
        alerts.create(Actor(people["dev"]), alerts.RuleTarget.of_app(project, "web"), **GOOD)
    login("dev")
    response = web.post(NEW, GOOD)
    assert response.status_code == 422 and "At most 50 rules for one app or node." in text(response)


def test_the_supervisors_sweep_takes_the_lease_and_evaluates_in_a_thread(app, team):
    """What every portal process's supervisor calls at each beat: the first look takes the
    lease and evaluates in a thread of its own; the next look waits LOOK_EVERY; once looking
    again, the lease (one interval) keeps this and every other process from evaluating."""
    from portal.services.alerts import evaluation
    evaluation._next_look = 0.0
    assert evaluation.sweep(app) is True
    evaluation._thread.join(30)
    assert evaluation.sweep(app) is False
    evaluation._next_look = 0.0
    assert evaluation.sweep(app) is False
    db.session.expire_all()
    lease = evaluation.lease()
    assert lease.holder == evaluation.holder() and lease.evaluated_at is not None and lease.problem == ""
    assert (lease.expires_at - lease.taken_at).total_seconds() == app.config["ALERT_INTERVAL"] == 60


def test_alert_pages_read_as_many_queries_for_3_rules_as_for_30(team, login, web):
    from tests.test_query_counts import queries_per_page
    project, people = team
    target = alerts.RuleTarget.of_app(project, "web")

    def add(count: int) -> None:
        for _ in range(count):
            _firing(alerts.create(Actor(people["dev"]), target, **GOOD))
    add(3)
    login("vic")
    pages = [LIST, "/projects/alpha/apps/web/alerts/history", "/dashboard/alerts"]
    few = queries_per_page(web, pages)
    add(27)
    many = queries_per_page(web, pages)
    assert few == many, (few, many)
