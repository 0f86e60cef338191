"""Actions on a running app through HTTP, each checked in the cluster afterwards and in
the audit log: scale, image update (live progress, stall), rollback, restart, stop and
start, edit (with a concurrent edit), delete; and logs (one pod, merged, SSE, download)."""
from __future__ import annotations

import html
import re

import pytest
from kubernetes import client

from portal.extensions import db
from portal.models import AuditEvent
from tests.apps.conftest import deploy_form, form_data, ready, wait_for
from tests.support.web import error_beside, text

pytestmark = pytest.mark.kube


def token_on(web, ns, app="web"):
    """The image form's token on the app's page (a fingerprint of the pod template)."""
    return form_data(text(web.get(f"/projects/{ns}/apps/{app}")), "image-form")["token"]


def audited(action):
    db.session.expire_all()
    return db.session.scalar(db.select(AuditEvent).filter_by(action=action))


def test_detail_page_ids_are_unique(running, web):
    """Several forms on one page: labels, htmx targets and scripts find the one element they name."""
    page = text(web.get(f"/projects/{running}/apps/web"))
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_scale(running, web, apps_api, core_api):
    ns = running
    response = web.post(f"/projects/{ns}/apps/web/scale", {"replicas": "4"})
    assert response.status_code == 302
    assert apps_api.read_namespaced_deployment("web", ns).spec.replicas == 4
    assert "web scaled to 4." in text(web.get(f"/projects/{ns}/apps/web"))
    ready(apps_api, ns, "web", 4)
    assert len(core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=web").items) == 4
    assert audited("app.scale").detail == "2 -> 4"
    response = web.post(f"/projects/{ns}/apps/web/scale", {"replicas": "1001"})
    assert response.status_code == 422
    assert "from 0 to 1000" in error_beside(text(response), "replicas")
    assert apps_api.read_namespaced_deployment("web", ns).spec.replicas == 4


def test_change_image_shows_progress_until_complete_then_roll_back(running, web, apps_api, kubelet):
    ns = running
    kubelet.ready_delay = 1.0   # each new pod takes a second to be ready: a rollout one can watch
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "2.0",
                                                           "token": token_on(web, ns)})
    assert response.status_code == 302
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].image == "hummer/web:2.0"
    # the status fragment (polled every 2 s by the page) follows the rollout to its end
    seen = set()

    def complete():
        fragment = text(web.get(f"/projects/{ns}/apps/web", htmx="app-status"))
        assert fragment.lstrip().startswith('<section id="app-status"')
        seen.add("Rolling out:" in fragment)   # the progress line (the flash says "Rolling out hummer/...")
        return "Rollout complete." in fragment and "hummer/web:2.0" in fragment and "revision 2" in fragment
    wait_for(complete, timeout=60, what="rollout complete")
    # the user saw the progress while it ran, then its end (without it)
    assert seen == {True, False}, "the status never showed 'Rolling out:' before 'Rollout complete.'"
    assert audited("app.image").detail == "hummer/web:1.0 -> hummer/web:2.0"
    page = text(web.get(f"/projects/{ns}/apps/web"))
    assert "Roll back to 1" in page
    token = re.search(r'name="revision" value="1">\s*<input type="hidden" name="token" value="([^"]+)"', page).group(1)
    response = web.post(f"/projects/{ns}/apps/web/rollback", {"revision": "1", "token": token})
    assert response.status_code == 302
    d = apps_api.read_namespaced_deployment("web", ns)
    assert d.spec.template.spec.containers[0].image == "hummer/web:1.0"
    wait_for(lambda: apps_api.read_namespaced_deployment("web", ns).metadata.annotations.get(
        "deployment.kubernetes.io/revision") == "3", what="revision 3")
    ready(apps_api, ns, "web", 2)
    assert "template of revision 1" in audited("app.rollback").detail
    # a revision that does not exist
    response = web.post(f"/projects/{ns}/apps/web/rollback", {"revision": "9", "generation": ""})
    assert response.status_code == 422 and "There is no revision 9" in html.unescape(text(response))


def test_missing_image_stalls_and_the_page_says_so(app, running, web, apps_api, kubelet):
    ns = running
    kubelet.registry_checker = lambda image: not image.endswith(":missing")
    apps_api.patch_namespaced_deployment("web", ns, {"spec": {"progressDeadlineSeconds": 3}})
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "missing"})
    assert response.status_code == 302
    wait_for(lambda: "Rollout stalled" in text(web.get(f"/projects/{ns}/apps/web", htmx="app-status")),
             timeout=60, what="stalled")
    fragment = text(web.get(f"/projects/{ns}/apps/web", htmx="app-status"))
    assert "ImagePullBackOff" in fragment or "ErrImagePull" in fragment
    assert "stalled" in text(web.get(f"/projects/{ns}/apps?status=stalled", htmx="app-rows"))


def test_conflicting_image_change_keeps_what_was_typed(running, web, apps_api):
    ns = running
    old = token_on(web, ns)
    apps_api.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "hummer/web:1.1"}]}}}})  # someone else, meanwhile
    response = web.post(f"/projects/{ns}/apps/web/image", {"image": "hummer/web", "tag": "9.9",
                                                           "token": old})
    assert response.status_code == 409
    page = html.unescape(text(response))
    assert "changed meanwhile" in page and "reload" in page and 'value="9.9"' in page
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].image == "hummer/web:1.1"


def test_restart_stop_and_start(running, web, apps_api):
    ns = running
    assert web.post(f"/projects/{ns}/apps/web/restart").status_code == 302
    annotations = apps_api.read_namespaced_deployment("web", ns).spec.template.metadata.annotations
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert audited("app.restart") is not None
    ready(apps_api, ns, "web", 2)
    assert web.post(f"/projects/{ns}/apps/web/stop").status_code == 302
    d = apps_api.read_namespaced_deployment("web", ns)
    assert d.spec.replicas == 0 and d.metadata.annotations["hummer.io/replicas-before-stop"] == "2"
    ready(apps_api, ns, "web", 0)
    assert "Stopped (was 2 replicas)" in text(web.get(f"/projects/{ns}/apps/web", htmx="app-status"))
    assert web.post(f"/projects/{ns}/apps/web/stop").status_code == 422  # stopped already
    assert web.post(f"/projects/{ns}/apps/web/start").status_code == 302
    d = apps_api.read_namespaced_deployment("web", ns)
    assert d.spec.replicas == 2 and "hummer.io/replicas-before-stop" not in (d.metadata.annotations or {})
    ready(apps_api, ns, "web", 2)
    assert audited("app.stop").detail == "2 -> 0" and audited("app.start").detail == "0 -> 2"


def test_edit_env_ports_plan_probes_and_a_concurrent_edit(running, web, apps_api, core_api, kube_api):
    ns = running
    page = text(web.get(f"/projects/{ns}/apps/web/edit"))
    assert 'value="GREETING"' in page and 'value="8080"' in page
    data = deploy_form("web", **{
        "op": "save", "token": form_data(page)["token"], "plan": "", "cpu_request": "200m", "cpu_limit": "1",
        "memory_request": "64Mi", "memory_limit": "128Mi", "env-0-value": "bonjour",
        "ports-1-name": "admin", "ports-1-container_port": "9000", "ports-1-exposure": "external",
        "readiness-kind": "tcp", "readiness-port": "9000", "autoscale": "y", "min_replicas": "1",
        "max_replicas": "4"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 302, html.unescape(text(response))[-3000:]
    c = apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0]
    assert c.env[0].value == "bonjour" and c.resources.requests == {"cpu": "200m", "memory": "64Mi"}
    assert c.readiness_probe.tcp_socket.port == 9000 and c.image == "hummer/web:1.0"
    assert [p.container_port for p in c.ports] == [8080, 9000]
    assert core_api.read_namespaced_service("web-ext", ns).spec.type == "NodePort"
    hpa = client.AutoscalingV1Api(kube_api).read_namespaced_horizontal_pod_autoscaler("web", ns)
    assert hpa.spec.max_replicas == 4
    assert audited("app.edit") is not None
    # the form was shown with `token`; since then the template changed: 409, nothing lost
    data["env-0-value"] = "hallo"
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 409
    page = html.unescape(text(response))
    assert "changed meanwhile" in page and 'value="hallo"' in page and 'value="admin"' in page
    assert apps_api.read_namespaced_deployment("web", ns).spec.template.spec.containers[0].env[0].value == "bonjour"
    # a bad value is explained beside the row's field
    data.update({"token": form_data(text(web.get(f"/projects/{ns}/apps/web/edit")))["token"],
                 "ports-1-container_port": "8080", "ports-1-name": "dup"})
    response = web.post(f"/projects/{ns}/apps/web/edit", data)
    assert response.status_code == 422
    assert error_beside(text(response), "ports-1-container_port") == "Port 8080/TCP is listed twice."


def test_delete_takes_service_and_autoscaler(kproject, login, web, apps_api, core_api, kube_api):
    ns = kproject.name
    login("dev")
    data = deploy_form("gone", **{"ports-0-exposure": "external", "autoscale": "y"})
    assert web.post(f"/projects/{ns}/apps/new", data).status_code == 302
    page = text(web.get(f"/projects/{ns}/apps/gone/delete"))
    assert "Service <code>gone-ext</code>" in page and "HorizontalPodAutoscaler <code>gone</code>" in page
    response = web.post(f"/projects/{ns}/apps/gone/delete", {"confirm": "nope"})
    assert response.status_code == 422 and "Type the app name" in error_beside(text(response), "confirm")
    assert web.post(f"/projects/{ns}/apps/gone/delete", {"confirm": "gone"}).status_code == 302
    assert core_api.list_namespaced_service(ns).items == []
    assert client.AutoscalingV1Api(kube_api).list_namespaced_horizontal_pod_autoscaler(ns).items == []
    wait_for(lambda: not apps_api.list_namespaced_deployment(ns).items, what="deployment gone")
    wait_for(lambda: not core_api.list_namespaced_pod(ns).items, timeout=60, what="pods gone")
    assert "No apps yet." in text(web.get(f"/projects/{ns}/apps"))
    assert web.get(f"/projects/{ns}/apps/gone").status_code == 404
    assert "Deployment gone" in audited("app.delete").detail


def test_logs_of_one_pod_all_pods_download_and_follow(running, web, core_api, kubelet):
    ns = running
    pods = sorted(p.metadata.name for p in core_api.list_namespaced_pod(ns, label_selector="hummer.io/app=web").items)
    kubelet.write_log(ns, pods[0], "web", "first pod says <hi>")
    kubelet.write_log(ns, pods[1], "web", "second pod says bye")
    one = text(web.get(f"/projects/{ns}/apps/web/logs?pod={pods[0]}"))
    assert "first pod says &lt;hi&gt;" in one and "second pod says" not in one
    merged = text(web.get(f"/projects/{ns}/apps/web/logs"))
    assert f'<span class="pod">{pods[0]}</span> first pod says' in merged
    assert f'<span class="pod">{pods[1]}</span> second pod says bye' in merged
    download = web.get(f"/projects/{ns}/apps/web/logs/download")
    assert download.headers["Content-Disposition"] == f'attachment; filename="{ns}-web.log"'
    body = download.get_data(as_text=True)
    assert f"[{pods[1]}] second pod says bye" in body
    assert web.get(f"/projects/{ns}/apps/web/logs?pod=nosuchpod").status_code == 404

    # follow: Server-Sent Events, one `line` event per new line, tagged with its pod
    response = web.get(f"/projects/{ns}/apps/web/logs/stream", buffered=False)
    assert response.mimetype == "text/event-stream"
    stream = response.response
    got = ""
    kubelet.write_log(ns, pods[1], "web", "live line <b>")
    for chunk in stream:
        got += chunk.decode() if isinstance(chunk, bytes) else chunk
        if "live line" in got:
            break
    response.close()
    assert "event: line\ndata: <div class=\"log-line\"><span class=\"pod\">" + pods[1] in got
    assert "live line &lt;b&gt;" in got
