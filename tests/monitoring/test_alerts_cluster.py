"""Rules read from the API, against the real API server and controller-manager (the simulated
kubelet runs the pods): a pod's restarts, and replicas the Deployment wants but has not
available; the firing alert on the app's page and the dashboard."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AlertState, User
from portal.services import alerts, kube_access
from portal.services.alerts import evaluation
from portal.services.context import Actor
from tests.monitoring.conftest import deploy_form, ready
from tests.support.html import find
from tests.support.waiting import wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(int(seconds), timezone.utc)


def actor(name: str) -> Actor:
    return Actor(db.session.scalar(select(User).filter_by(username=name)))


def status(rule_id: int) -> tuple[str, float | None]:
    db.session.expire_all()
    s = db.session.get(AlertState, rule_id)
    return (s.status, s.value) if s else ("ok", None)


def cached_pods(ns: str, app: str):
    return kube_access.kube().pods(ns, app)


def deployed_with_rule(kproject, login, web, apps_api, replicas: int, kind: str, for_: str,
                       threshold: str = "0", wait: bool = True):
    """`web` deployed by dev with `replicas` (Ready when `wait`) and a rule of `kind` on it."""
    ns = kproject.name
    login("dev")
    assert web.post(f"/projects/{ns}/apps/new", deploy_form("web", replicas=replicas)).status_code == 302
    if wait:
        ready(apps_api, ns, "web", replicas)
    return ns, alerts.create(actor("dev"), alerts.RuleTarget.of_app(kproject, "web"), kind=kind, metric="",
                             comparison=">", threshold=threshold, for_=for_, webhook_url="", enabled=True)


def test_a_restarting_pod_fires_and_new_pods_resolve_it(kproject, login, web, apps_api, core_api, kubelet):
    ns, rule = deployed_with_rule(kproject, login, web, apps_api, 1, "restarts", "0")
    t = time.time()
    assert evaluation.tick(at(t)).problems == []
    assert status(rule.id) == ("ok", 0)

    pod, = [p.metadata.name for p in core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=web").items]
    kubelet.crash(ns, pod)
    wait_for(lambda: sum(p.restarts for p in cached_pods(ns, "web")) == 1, what="the restart in the portal's cache")
    assert len(evaluation.tick(at(t + 60)).fired) == 1
    assert status(rule.id) == ("firing", 1)
    banner = find(text(web.get(f"/projects/{ns}/apps/web")), id="alert-banner")
    assert banner is not None and "Restarts > 0" in banner.text and "1 alert firing" in banner.text
    assert f"{ns}/web" in find(text(web.get("/dashboard/alerts", htmx="alerts")), id="alerts-firing-now").text

    # a restart of the app replaces the pod: the new one has not restarted
    assert web.post(f"/projects/{ns}/apps/web/restart", {}).status_code == 302
    wait_for(lambda: (lambda pods: len(pods) == 1 and pods[0].name != pod and pods[0].ready
                      and pods[0].restarts == 0)(cached_pods(ns, "web")), timeout=60, what="the new pod, ready")
    assert len(evaluation.tick(at(t + 120)).resolved) == 1
    assert status(rule.id) == ("ok", 0)
    assert find(text(web.get(f"/projects/{ns}/apps/web")), id="alert-banner") is None


def test_replicas_unavailable_for_their_duration_fire_and_resolve(kproject, login, web, apps_api, kubelet):
    ns, rule = deployed_with_rule(kproject, login, web, apps_api, 2, "unavailable", "1m")
    t = time.time()
    evaluation.tick(at(t))
    assert status(rule.id) == ("ok", 0)

    kubelet.known_images = set()       # the third pod's image cannot be pulled
    assert web.post(f"/projects/{ns}/apps/web/scale", {"replicas": "3"}).status_code == 302
    wait_for(lambda: (lambda a: a.desired == 3 and a.available == 2)(kube_access.kube().app(ns, "web")),
             what="3 wanted, 2 available in the portal's cache")
    evaluation.tick(at(t + 60))
    assert status(rule.id) == ("pending", 1)
    assert len(evaluation.tick(at(t + 120)).fired) == 1
    assert status(rule.id) == ("firing", 1)
    assert "Replicas unavailable > 0 for 1m" in find(text(web.get(f"/projects/{ns}/apps/web")), id="alert-banner").text

    kubelet.known_images = None        # the image pulls at the kubelet's next try
    ready(apps_api, ns, "web", 3)
    wait_for(lambda: kube_access.kube().app(ns, "web").available == 3, what="3 available in the portal's cache")
    assert len(evaluation.tick(at(t + 180)).resolved) == 1
    assert status(rule.id) == ("ok", 0)
    history = text(web.get(f"/projects/{ns}/apps/web/alerts/history"))
    assert "Replicas unavailable &gt; 0 for 1m" in history


def test_an_app_deleted_takes_its_rules_and_history(kproject, login, web, apps_api):
    ns, _rule = deployed_with_rule(kproject, login, web, apps_api, 1, "unavailable", "0", threshold="5", wait=False)
    assert web.post(f"/projects/{ns}/apps/web/delete", {"confirm": "web"}).status_code == 302
    assert alerts.rules_of(alerts.RuleTarget.of_app(kproject, "web")) == []
