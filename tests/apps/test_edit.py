"""The edit form and the image form of a running app, checked with kubectl beside the
portal: the edit page saves what it shows, keeps what kubectl added, survives a scale,
still refuses a concurrent change of the template, and the autoscaler's own view."""
from __future__ import annotations

import html
import json
import re

import pytest
from kubernetes import client

from tests.apps.conftest import deploy_form, form_data, wait_for
from tests.support.html import field_value, find
from tests.support.web import error_beside, text

pytestmark = pytest.mark.kube


def errors_on(page: str) -> list[str]:
    """Every message the page shows (beside a field or in the general area), for failures."""
    return re.findall(r'class="error"[^>]*>(.*?)</', html.unescape(page), re.S)


def edit_page(web, ns):
    response = web.get(f"/projects/{ns}/apps/web/edit")
    assert response.status_code == 200
    return text(response)


def image_token(page: str) -> str:
    return field_value(page, "image-token")


def kubectl(kube_cluster, ns, *args):
    done = kube_cluster.kubectl("-n", ns, *args, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_edit_page_saves_the_fields_it_shows(running, web, apps_api):
    ns = running
    page = edit_page(web, ns)
    data = form_data(page)
    # the page has no image, tag, name or replicas field, and the browser sends none
    assert not {"image", "tag", "name", "replicas"} & set(data)
    data.update({"env-0-value": "bonjour", "op": "save"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    d = apps_api.read_namespaced_deployment("web", ns)
    c = d.spec.template.spec.containers[0]
    assert c.env[0].value == "bonjour" and c.image == "hummer/web:1.0" and d.spec.replicas == 2
    assert "web updated." in text(web.get(f"/projects/{ns}/apps/web"))


def test_a_bad_edit_is_explained_on_the_page(running, web, apps_api):
    ns = running
    data = form_data(edit_page(web, ns))
    data.update({"op": "save", "env-0-name": "1BAD", "liveness-kind": "exec", "liveness-command": ""})
    response = web.post(f"/projects/{ns}/apps/web/edit", data, htmx="app-form")
    assert response.status_code == 422
    page = text(response)
    assert "not starting with a digit" in error_beside(page, "env-0-name")
    assert "needs a command" in error_beside(page, "liveness-command")
    assert re.search(r'<details id="section-health" open>', page)  # the message is not folded away
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].env[0].name == "GREETING"


def test_edit_keeps_what_kubectl_added(running, web, apps_api, kube_cluster):
    ns = running
    kubectl(kube_cluster, ns, "patch", "deployment", "web", "--type=strategic", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "hummer/sidecar:1"}]}}}}))
    kubectl(kube_cluster, ns, "patch", "deployment", "web", "-p", json.dumps(
        {"spec": {"template": {"spec": {"nodeSelector": {"disktype": "ssd"}}}}}))
    kubectl(kube_cluster, ns, "patch", "deployment", "web", "-p", json.dumps(
        {"spec": {"template": {"metadata": {"labels": {"team": "blue"}}}}}))
    kubectl(kube_cluster, ns, "patch", "deployment", "web", "-p", json.dumps(
        {"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 7}}}}))

    data = form_data(edit_page(web, ns))
    assert data["env-0-value"] == "hello"
    data.update({"env-0-value": "changed", "op": "save"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))

    t = apps_api.read_namespaced_deployment("web", ns).spec.template
    by_name = {c.name: c for c in t.spec.containers}
    assert by_name["web"].env[0].value == "changed"                     # the edited field changed
    assert by_name["sidecar"].image == "hummer/sidecar:1"               # the four kubectl changes stayed
    assert t.spec.node_selector == {"disktype": "ssd"}
    assert t.metadata.labels["team"] == "blue"
    assert t.spec.termination_grace_period_seconds == 7
    # and the portal still reads the app's own container, not the sidecar
    assert "hummer/web:1.0" in text(web.get(f"/projects/{ns}/apps/web", htmx="app-status"))


def test_a_removed_setting_is_removed(running, web, apps_api):
    """Fields the form owns and no longer sends go: the apply owns them. A probe whose kind
    changes loses its old handler too (no defaulted scheme is left behind)."""
    ns = running
    data = form_data(edit_page(web, ns))
    data.update({"op": "save", "liveness-kind": "http", "liveness-port": "8080", "liveness-path": "/alive"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].liveness_probe.http_get
    data = form_data(edit_page(web, ns))
    data.update({"op": "save", "liveness-kind": "tcp", "liveness-port": "8080"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    live = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].liveness_probe
    assert live.tcp_socket.port == 8080 and live.http_get is None
    # an env var from a secret, then a plain value again: no valueFrom is left behind
    data = form_data(edit_page(web, ns))
    data.update({"op": "save", "env-0-source": "secret", "env-0-secret": "db", "env-0-key": "pw"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    data = form_data(edit_page(web, ns))
    assert data["env-0-source"] == "secret"
    data.update({"op": "save", "env-0-source": "plain", "env-0-value": "plain again"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    env = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].env
    assert env[0].value == "plain again" and env[0].value_from is None

    def rolled_out():
        d = apps_api.read_namespaced_deployment_status("web", ns)
        return ((d.status.observed_generation or 0) >= d.metadata.generation
                and (d.status.updated_replicas or 0) == 2 and (d.status.ready_replicas or 0) == 2
                and (d.status.replicas or 0) == 2 and d.metadata.annotations["deployment.kubernetes.io/revision"])
    revision = int(wait_for(rolled_out, timeout=60, what="the earlier edits rolled out"))
    data = form_data(edit_page(web, ns))
    data.update({"op": "save", "env-0-name": "", "env-0-value": "", "readiness-kind": "none"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, errors_on(text(response))
    d = apps_api.read_namespaced_deployment("web", ns)
    c = d.spec.template.spec.containers[0]
    assert not c.env and c.readiness_probe is None and not d.spec.paused
    # one edit, one new revision (the probe's removal and the apply roll out together)
    assert int(wait_for(rolled_out, timeout=60, what="the edit rolled out")) == revision + 1


def test_a_scale_does_not_stale_the_open_forms(running, web, apps_api, kube_cluster):
    ns = running
    edit = form_data(edit_page(web, ns))
    detail = text(web.get(f"/projects/{ns}/apps/web"))
    token = image_token(detail)
    assert token
    kubectl(kube_cluster, ns, "scale", "deployment/web", "--replicas=3")
    assert web.post(f"/projects/{ns}/apps/web/scale", {"replicas": "4"}).status_code == 302  # the portal's own
    assert web.post(f"/projects/{ns}/apps/web/stop").status_code == 302
    assert web.post(f"/projects/{ns}/apps/web/start").status_code == 302
    assert apps_api.read_namespaced_deployment("web", ns).spec.replicas == 4

    edit.update({"op": "save", "env-0-value": "after scale"})
    response = web.post(f"/projects/{ns}/apps/web/edit", edit)
    assert response.status_code == 302, errors_on(text(response))
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "2.0", "token": token})
    # the edit changed the template since the detail page was shown: that is a real conflict
    assert response.status_code == 409
    # the page polls its status every 2 s: the fragment brings a fresh token for the image form
    fragment = text(web.get(f"/projects/{ns}/apps/web", htmx="app-status"))
    fresh_input = find(fragment, "input", id="image-token", name="token")
    assert fresh_input is not None and fresh_input.get("hx-swap-oob") == "true", fragment[:2000]
    fresh = fresh_input.get("value")
    assert fresh
    assert fresh != token
    kubectl(kube_cluster, ns, "scale", "deployment/web", "--replicas=2")
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "2.0", "token": fresh})
    assert response.status_code == 302
    d = apps_api.read_namespaced_deployment("web", ns)
    assert d.spec.template.spec.containers[0].image == "hummer/web:2.0"
    assert d.spec.template.spec.containers[0].env[0].value == "after scale" and d.spec.replicas == 2


def test_a_concurrent_template_change_is_a_conflict(running, web, apps_api, kube_cluster):
    ns = running
    edit = form_data(edit_page(web, ns))
    kubectl(kube_cluster, ns, "set", "env", "deployment/web", "GREETING=from-kubectl")
    edit.update({"op": "save", "env-0-value": "from-portal"})
    response = web.post(f"/projects/{ns}/apps/web/edit", edit, htmx="app-form")
    assert response.status_code == 409
    page = html.unescape(text(response))
    general = re.search(r'<div id="app-form-errors">(.*?)</div>', page, re.S).group(1)
    assert "changed meanwhile" in general and "with kubectl" in general and "reload" in general
    assert 'value="from-portal"' in page  # what was typed is kept
    env = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].env
    assert env[0].value == "from-kubectl"


def test_autoscaling_starts_at_the_replicas_given(kproject, login, web, apps_api):
    ns = kproject.name
    login("dev")
    data = deploy_form("auto", replicas=3, autoscale="y", min_replicas="2", max_replicas="5")
    assert web.post(f"/projects/{ns}/apps/new", data).status_code == 302
    assert apps_api.read_namespaced_deployment("auto", ns).spec.replicas == 3
    data = deploy_form("outside", replicas=7, autoscale="y", min_replicas="2", max_replicas="5")
    response = web.post(f"/projects/{ns}/apps/new", data, htmx="app-form")
    assert response.status_code == 422
    assert "from 2 to 5" in error_beside(text(response), "replicas")
    assert [d.metadata.name for d in apps_api.list_namespaced_deployment(ns).items] == ["auto"]


def test_the_autoscalers_conditions_are_shown(kproject, login, web, kube_api, kubelet):
    ns = kproject.name
    kubelet.set_usage(ns, "hummer.io/app=hpa", reported=False)  # the metrics API has no figures for its pods
    login("dev")
    data = deploy_form("hpa", replicas=2, autoscale="y", min_replicas="2", max_replicas="5", cpu_target="70")
    assert web.post(f"/projects/{ns}/apps/new", data).status_code == 302
    scalers = client.AutoscalingV1Api(kube_api)

    def reported():
        hpa = scalers.read_namespaced_horizontal_pod_autoscaler("hpa", ns)
        raw = (hpa.metadata.annotations or {}).get("autoscaling.alpha.kubernetes.io/conditions")
        conditions = {c["type"]: c for c in json.loads(raw or "[]")}
        return conditions if conditions.get("ScalingActive", {}).get("status") == "False" else None
    conditions = wait_for(reported, timeout=90, interval=1, what="the HPA controller's conditions")
    active = conditions["ScalingActive"]
    assert active["reason"] == "FailedGetResourceMetric"

    def shown():
        page = html.unescape(text(web.get(f"/projects/{ns}/apps/hpa", htmx="app-status")))
        return page if active["reason"] in page else None
    page = wait_for(shown, what="the conditions on the page")
    assert "autoscaling 2–5 at 70% CPU" in page and "not scaling" in page
    hpa = scalers.read_namespaced_horizontal_pod_autoscaler("hpa", ns)
    assert f"{hpa.status.current_replicas} current, {hpa.status.desired_replicas} desired" in page
    row = re.search(r"<tr[^>]*><td>ScalingActive</td><td>False</td><td>(.*?)</td><td>(.*?)</td></tr>", page, re.S)
    assert row and row.group(1) == active["reason"] and row.group(2) == active["message"]


def test_the_edit_form_of_an_app_without_autoscaling_has_the_deploy_forms_defaults(running, web):
    ns = running
    edit = form_data(edit_page(web, ns))
    new = form_data(text(web.get(f"/projects/{ns}/apps/new")))
    assert "autoscale" not in edit
    for key in ("min_replicas", "max_replicas", "cpu_target"):
        assert edit[key] == new[key], key
    assert edit["max_replicas"] == "3"
