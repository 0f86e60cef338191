"""The autoscaling loop, real but for the kubelet: an app deployed through the portal with
autoscaling, the real controller-manager's HPA controller reading its pods' CPU through the
API server's aggregation layer from the metrics stand-in (the simulated kubelet's synthetic
usage), scaling the Deployment up and down, and the app's page following it all."""
from __future__ import annotations

import html
import re
import time

import pytest
from kubernetes import client

from tests.apps.conftest import deploy_form, ready, wait_for
from tests.support.web import text

pytestmark = pytest.mark.kube

APP = "busy"
SELECTOR = f"hummer.io/app={APP}"


def status_of(web, ns) -> dict | None:
    """What the app's page says of its autoscaler: current and desired replicas and the CPU
    figure (None while the controller has none), and whether it says it is not scaling."""
    page = html.unescape(text(web.get(f"/projects/{ns}/apps/{APP}", htmx="app-status")))
    m = re.search(r'<strong id="hpa-replicas">(\d+) current, (\d+) desired</strong>', page)
    if not m:
        return None
    cpu = re.search(r"CPU now (\d+)% of requests", page)
    return {"current": int(m.group(1)), "desired": int(m.group(2)), "cpu": int(cpu.group(1)) if cpu else None,
            "scaling": 'id="hpa-inactive"' not in page}


def events_of(web, ns) -> str:
    return html.unescape(text(web.get(f"/projects/{ns}/apps/{APP}/events")))


def pod_cpu(kube_api, ns) -> dict[str, str]:
    """Each pod's CPU as the metrics API (through the API server) gives it."""
    doc = client.CustomObjectsApi(kube_api).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", ns, "pods", label_selector=SELECTOR)
    return {i["metadata"]["name"]: i["containers"][0]["usage"]["cpu"] for i in doc["items"]}


def test_the_autoscaler_scales_by_the_pods_cpu_and_the_page_follows(kproject, login, web, apps_api, core_api,
                                                                     kube_api, kubelet):
    ns = kproject.name
    login("dev")
    data = deploy_form(APP, replicas=2, autoscale="y", min_replicas="2", max_replicas="5", cpu_target="70")
    assert web.post(f"/projects/{ns}/apps/new", data).status_code == 302
    ready(apps_api, ns, APP, 2)
    seen = []

    def page_shows(want):
        def probe():
            s = status_of(web, ns)
            if s and (not seen or seen[-1] != s):
                seen.append(s)
            return s if s and want(s) else None
        return probe

    # Quiet pods (the default 5m of the plan's 100m request): the controller has a figure and
    # keeps the minimum.
    quiet = wait_for(page_shows(lambda s: s["cpu"] is not None), timeout=30, interval=0.5,
                     what="the autoscaler's first CPU figure on the page")
    assert quiet == {"current": 2, "desired": 2, "cpu": 5, "scaling": True}

    # Busy: 300m each, 3x the request; the selector covers the pods made later too.
    t0 = time.monotonic()
    kubelet.set_usage(ns, SELECTOR, cpu="300m")
    wait_for(page_shows(lambda s: s["desired"] == 5), timeout=30, interval=0.5, what="5 desired on the page")
    ready(apps_api, ns, APP, 5)
    up = wait_for(page_shows(lambda s: s["current"] == 5 and s["cpu"] == 300), timeout=30, interval=0.5,
                  what="5 current at 300% on the page")
    assert up == {"current": 5, "desired": 5, "cpu": 300, "scaling": True}
    scaled_up = time.monotonic() - t0
    pods = {p.metadata.name for p in core_api.list_namespaced_pod(ns, label_selector=SELECTOR).items}
    assert pod_cpu(kube_api, ns) == {p: "300000000n" for p in pods}
    events = wait_for(lambda: (lambda t: "New size: 5" in t and t)(events_of(web, ns)),
                      what="the autoscaler's rescale event on the page")
    assert re.search(r"SuccessfulRescale.*HorizontalPodAutoscaler/busy.*New size: 5; reason: cpu resource "
                     r"utilization \(percentage of request\) above target", events, re.S)
    assert re.search(r"ScalingReplicaSet.*Deployment/busy.*Scaled up replica set busy-\w+ to 5", events, re.S)

    # Quiet again: back to the minimum once the downscale stabilization (5 s here) has passed.
    t0 = time.monotonic()
    kubelet.set_usage(ns, SELECTOR, cpu="10m")
    down = wait_for(page_shows(lambda s: s["current"] == 2 and s["desired"] == 2), timeout=60, interval=0.5,
                    what="2 current, 2 desired on the page")
    assert down["scaling"]
    ready(apps_api, ns, APP, 2)
    scaled_down = time.monotonic() - t0
    events = wait_for(lambda: (lambda t: "New size: 2" in t and t)(events_of(web, ns)),
                      what="the autoscaler's scale-down event on the page")
    assert re.search(r"SuccessfulRescale.*HorizontalPodAutoscaler/busy.*New size: 2; reason: All metrics below "
                     r"target", events, re.S)
    assert seen[-1] == {"current": 2, "desired": 2, "cpu": 10, "scaling": True}
    print(f"scaled up in {scaled_up:.1f} s, down in {scaled_down:.1f} s; the page showed {seen}")

