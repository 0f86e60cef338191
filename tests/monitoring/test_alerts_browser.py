"""The alerts' pages in Chromium: with the longest names, a long webhook URL and an alert
firing, they hold at 360 px (nothing scrolls sideways) and meet WCAG AA contrast."""
from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import AlertEvent, AlertRule, AlertState, AlertStatus, utcnow
from tests.test_console_browser import LONG_USER, check_pages

pytestmark = pytest.mark.browser

PROJECT = "p" * 63
APP = "a" * 63
NODE = "node-" + "n" * 58


def _firing(rule: AlertRule, **where) -> None:
    now = utcnow()
    event = AlertEvent(rule_id=rule.id, summary="CPU above 0.5 cores for 5 minutes", kind=rule.kind,
                       metric=rule.metric, comparison=rule.comparison, threshold=rule.threshold,
                       value=0.93, pending_since=now, firing_since=now, **where)
    db.session.add(event)
    db.session.flush()
    db.session.add(AlertState(rule_id=rule.id, status=AlertStatus.FIRING.value, since=now, value=0.93,
                              evaluated_at=now, event_id=event.id))


def test_the_alert_pages_hold_at_360_px_and_meet_contrast(app, make_user, make_project, tmp_path):
    admin = make_user(LONG_USER, admin=True)
    project = make_project(PROJECT, {admin: "owner"})
    app_rule = AlertRule(project_id=project.id, app=APP, kind="metric", metric="cpu", comparison=">",
                         threshold=0.5, threshold_text="0.5", for_seconds=300,
                         webhook_url="https://hooks.example.test/" + "x" * 300)
    node_rule = AlertRule(node=NODE, kind="metric", metric="disk", comparison=">", threshold=80,
                          threshold_text="80", for_seconds=300)
    db.session.add_all([app_rule, node_rule])
    db.session.flush()
    _firing(app_rule, project_id=project.id, app=APP)
    _firing(node_rule, node=NODE)
    db.session.commit()

    pages = {
        "app-alerts": (f"/projects/{PROJECT}/apps/{APP}/alerts", "alert-rules"),
        "app-alert-new": (f"/projects/{PROJECT}/apps/{APP}/alerts/new", "alert-rule-form"),
        "app-alert-history": (f"/projects/{PROJECT}/apps/{APP}/alerts/history", "alert-history"),
        "node-alerts": (f"/cluster/nodes/{NODE}/alerts", "alert-rules"),
        "dashboard-alerts": ("/", "alerts-firing-now"),
    }
    check_pages(app, LONG_USER, pages, tmp_path)
