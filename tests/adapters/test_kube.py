"""portal.adapters.kube against the real API server: error classes, idempotent create
and delete, retries, the builders, and the watch-fed cache (list, watch, 410 relist,
read-your-writes)."""
from __future__ import annotations

import base64
import threading
import time

import pytest
from kubernetes import client

from portal.adapters import kube as k
from portal.adapters.kube import objects
from portal.domain.apps import AppSpec, EnvSpec, PortSpec, ProbeSpec, VolumeMountSpec
from tests.apps.conftest import wait_for
from tests.support.kube_cluster import free_port, write_kubeconfig

pytestmark = pytest.mark.kube


@pytest.fixture(scope="module")
def kube(kube_cluster):
    return k.connect(str(kube_cluster.kubeconfig))


def spec(name="web", **kw):
    return AppSpec(name=name, image="hummer/web", tag="1.0", replicas=1,
                           ports=[PortSpec("http", "TCP", 8080, "internal")], **kw)


def test_connect_is_once_per_process_and_kubeconfig(kube_cluster, kube):
    assert k.connect(str(kube_cluster.kubeconfig)) is kube
    with pytest.raises(k.NotConfigured):
        k.connect("")
    with pytest.raises(k.NotConfigured):
        k.connect("/nonexistent/kubeconfig")


def test_errors_map_to_own_classes_with_short_messages(kube, kube_namespace):
    with pytest.raises(k.NotFound) as e:
        kube.get("deployments", kube_namespace, "nope")
    assert isinstance(e.value.__cause__, Exception) and "not found" in e.value.message
    body = objects.deployment(spec(), kube_namespace)
    kube.create("deployments", kube_namespace, body)
    with pytest.raises(k.Conflict):
        kube.create("deployments", kube_namespace, body)
    assert kube.create("deployments", kube_namespace, body, exist_ok=True) == {}  # idempotent
    bad = objects.deployment(spec(), kube_namespace)
    bad["metadata"]["name"] = "Bad_Name"
    with pytest.raises(k.Invalid) as e:
        kube.create("deployments", kube_namespace, bad)
    assert any(f == "metadata.name" for f, _ in e.value.causes) and len(e.value.message) <= k.MESSAGE_LIMIT
    assert kube.delete("deployments", kube_namespace, "web") is True
    assert kube.delete("deployments", kube_namespace, "web") is False  # 404 is fine
    with pytest.raises(k.NotFound):
        kube.delete("deployments", kube_namespace, "web", missing_ok=False)


def test_stale_resource_version_is_a_conflict_not_retried(kube, kube_namespace):
    created = kube.create("deployments", kube_namespace, objects.deployment(spec(), kube_namespace))
    kube.patch("deployments", kube_namespace, "web", {"spec": {"replicas": 2}})
    created["spec"]["replicas"] = 3
    started = time.monotonic()
    with pytest.raises(k.Conflict):
        kube.replace("deployments", kube_namespace, "web", created)
    assert time.monotonic() - started < 1.0


def test_unreachable_server_is_unavailable_after_quick_retries(kube_cluster, tmp_path):
    path = write_kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{free_port()}", "t",
                            kube_cluster.ca_file.read_bytes())
    dead = k.Kube(str(path))
    started = time.monotonic()
    with pytest.raises(k.Unavailable) as e:
        dead.get("namespaces", None, "default")
    assert "not reachable" in e.value.message and "connection refused" in e.value.message
    assert time.monotonic() - started < 3
    with pytest.raises(k.Unavailable):
        dead.cache("deployments", timeout=5)


def test_builders_survive_a_server_side_dry_run(kube, kube_namespace):
    s = spec("full", command="/bin/web -x", args="'a b'", workdir="/srv", session_affinity=True,
             autoscale=True, min_replicas=1, max_replicas=3, cpu_request="100m", memory_request="64Mi",
             cpu_limit="1", memory_limit="128Mi",
             env=[EnvSpec("A", "1"), EnvSpec("B", secret="s", key="k")],
             readiness=ProbeSpec("http", "/ready", 8080), liveness=ProbeSpec("exec", command="true"),
             volumes=[VolumeMountSpec("claim", "/data"), VolumeMountSpec("claim", "/logs", "logs", True)])
    s.ports.append(PortSpec("dns", "UDP", 53, "external", 30053))
    for obj in objects.app_objects(s, kube_namespace):
        kube.create(k.plural_of(obj), kube_namespace, obj, dry_run=True)
    assert kube.list("deployments", kube_namespace) == []
    back = objects.spec_from_objects(objects.deployment(s, kube_namespace), objects.services(s, kube_namespace),
                                     objects.hpa(s, kube_namespace))
    assert back.env == s.env and back.readiness == s.readiness and back.liveness == s.liveness
    assert [(p.name, p.exposure, p.node_port) for p in back.ports] == [("http", "internal", None),
                                                                         ("dns", "external", 30053)]
    assert back.volumes == s.volumes and back.autoscale and back.session_affinity


def test_cache_lists_watches_and_relists(kube, kube_namespace):
    kube.create("deployments", kube_namespace, objects.deployment(spec("one"), kube_namespace))
    kube.cache("deployments")  # starts the informer
    wait_for(lambda: kube.app(kube_namespace, "one"), what="one in the cache")
    # a change made by someone else arrives through the watch
    kube.request("PATCH", k.path("deployments", kube_namespace, "one"), body={"spec": {"replicas": 3}},
                 content_type="application/merge-patch+json")
    wait_for(lambda: kube.app(kube_namespace, "one").desired == 3, what="watched update")
    # A relist (what the thread does after 410 Gone) replaces the store wholesale: an
    # object deleted while nobody watched disappears, a new one appears. (Provoking a
    # real 410 needs the API server's watch window to pass: 1.20 keeps at least 75 s.)
    kube.create("deployments", kube_namespace, objects.deployment(spec("two"), kube_namespace))
    probe = k.Informer(kube, "deployments")
    probe._relist()
    assert probe.relists == 1 and probe.synced.is_set() and probe.get(kube_namespace, "two") is not None
    assert {a.name for a in probe.in_namespace(kube_namespace)} == {"one", "two"}
    kube.request("DELETE", k.path("deployments", kube_namespace, "one"))
    probe._relist()
    assert {a.name for a in probe.in_namespace(kube_namespace)} == {"two"}
    # and the process's own informer went on watching throughout
    wait_for(lambda: kube.app(kube_namespace, "two"), what="two via the live watch")
    kube.delete("deployments", kube_namespace, "two")
    assert kube.app(kube_namespace, "two") is None


def test_a_write_is_visible_in_this_process_at_once(kube, kube_namespace):
    kube.cache("deployments")
    kube.create("deployments", kube_namespace, objects.deployment(spec("mine"), kube_namespace))
    assert kube.app(kube_namespace, "mine") is not None  # no waiting for the watch
    kube.patch("deployments", kube_namespace, "mine", {"spec": {"replicas": 5}})
    assert kube.app(kube_namespace, "mine").desired == 5
    # an older object (a late watch event) does not overwrite a newer one
    informer = kube.informers["deployments"]
    current = kube.app(kube_namespace, "mine")
    older = kube.get("deployments", kube_namespace, "mine")
    older["metadata"]["resourceVersion"] = str(current.rv - 1)
    older["spec"]["replicas"] = 1
    informer.apply(older)
    assert kube.app(kube_namespace, "mine").desired == 5


def test_views_are_slim(kube, kube_namespace):
    kube.create("deployments", kube_namespace, objects.deployment(spec("slim"), kube_namespace))
    pod = wait_for(lambda: kube.pods(kube_namespace, "slim"), what="a pod")[0]  # one read: the list may change
    assert not hasattr(pod, "__dict__")  # slots only
    assert isinstance(pod, k.PodView) and pod.app == "slim"


def test_server_side_apply_changes_only_what_its_manager_owns(kube, kube_namespace):
    ns = kube_namespace
    two = spec("ssa", env=[EnvSpec("A", "1"), EnvSpec("B", "2")])
    created = kube.apply("deployments", ns, "ssa", objects.deployment(two, ns))
    assert ("hummer", "Apply") in {(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]}
    assert kube.app(ns, "ssa") is not None  # read-your-writes, as for create
    # someone else's field, set by another manager
    kube.patch("deployments", ns, "ssa", {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}})
    one = spec("ssa", env=[EnvSpec("A", "changed")])
    live = kube.apply("deployments", ns, "ssa", objects.deployment(one, ns))
    pod = live["spec"]["template"]["spec"]
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "changed"}]  # B, owned by hummer, went
    assert pod["nodeSelector"] == {"disk": "ssd"}                           # the other manager's stayed
    stale = objects.deployment(one, ns)
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    with pytest.raises(k.Conflict):
        kube.apply("deployments", ns, "ssa", stale)


def test_the_hpa_view_reads_its_conditions():
    conditions = ('[{"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},'
                  ' {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",'
                  ' "message": "no metrics"}]')
    obj = {"metadata": {"name": "web", "namespace": "p", "labels": {k.APP_LABEL: "web"},
                        "annotations": {k.HPA_CONDITIONS: conditions}},
           "spec": {"minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
           "status": {"currentReplicas": 2, "desiredReplicas": 3}}
    view = k.view_of_hpa(obj)
    assert (view.current_replicas, view.desired_replicas) == (2, 3)
    assert view.conditions[1] == ("ScalingActive", "False", "FailedGetResourceMetric", "no metrics")
    assert not view.active
    obj["metadata"]["annotations"][k.HPA_CONDITIONS] = "not json"
    assert k.view_of_hpa(obj).conditions == () and k.view_of_hpa(obj).active


def test_fingerprints_ignore_replicas_and_restarts_but_not_the_template():
    body = objects.deployment(spec(), "ns")
    base = objects.template_fingerprint(body["spec"]["template"])
    form = objects.form_fingerprint(body, [], None)
    body["spec"]["replicas"] = 7
    body["spec"]["template"]["metadata"]["annotations"] = {objects.RESTART_ANNOTATION: "2026-01-01T00:00:00Z"}
    assert objects.template_fingerprint(body["spec"]["template"]) == base
    assert objects.form_fingerprint(body, [], None) == form
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "hummer/web:2.0"
    assert objects.template_fingerprint(body["spec"]["template"]) != base
    assert objects.form_fingerprint(body, [], None) != form


def _reader_kube(kube_cluster, kube_api, ns, tmp_path) -> k.Kube:
    """A client whose ServiceAccount may read Deployments everywhere but delete nothing."""
    core, rbac = client.CoreV1Api(kube_api), client.RbacAuthorizationV1Api(kube_api)
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    name = f"{ns}-reader"
    rbac.create_cluster_role(client.V1ClusterRole(metadata=client.V1ObjectMeta(name=name), rules=[
        client.V1PolicyRule(api_groups=["apps"], resources=["deployments"], verbs=["get", "list", "watch"])]))
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=name),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=ns)]))
    wait_for(lambda: kube_cluster.service_account_ready(ns, "reader"), what="the reader's token")
    secret = core.read_namespaced_secret(core.read_namespaced_service_account("reader", ns).secrets[0].name, ns)
    token = base64.b64decode(secret.data["token"]).decode()
    path = write_kubeconfig(tmp_path / "reader", kube_cluster.api_url, token, kube_cluster.ca_file.read_bytes())
    return k.Kube(str(path))


def test_a_refused_delete_keeps_the_object_in_the_cache(kube_cluster, kube_api, kube, kube_namespace, tmp_path):
    kube.create("deployments", kube_namespace, objects.deployment(spec("kept"), kube_namespace))
    reader = _reader_kube(kube_cluster, kube_api, kube_namespace, tmp_path)
    try:
        wait_for(lambda: reader.app(kube_namespace, "kept"), what="kept in the reader's cache")
        with pytest.raises(k.Forbidden):
            reader.delete("deployments", kube_namespace, "kept")
        assert reader.app(kube_namespace, "kept") is not None  # it still exists, so it stays listed
        # gone (404) is forgotten, as is a successful delete
        kube.delete("deployments", kube_namespace, "kept")
    finally:
        reader.close()
        name = f"{kube_namespace}-reader"
        rbac = client.RbacAuthorizationV1Api(kube_api)
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


def _watch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("hummer-watch-"))


def test_a_new_stored_kubeconfig_closes_the_client_it_replaces(kube_cluster):
    content = kube_cluster.kubeconfig.read_text()
    first = k.connect_content(content + "\n# first\n")
    first.cache("deployments")
    before = _watch_threads()
    second = k.connect_content(content + "\n# second\n")
    assert second is not first
    second.cache("deployments")
    wait_for(lambda: not any(i.alive for i in first.informers.values()), timeout=10,
             what="the replaced client's watch threads to end")
    assert _watch_threads() <= before
    assert k.connect_content(content + "\n# second\n") is second


def test_events_come_from_a_watch_fed_cache(kube, kube_namespace, monkeypatch):
    kube.cache("events")
    kube.create("deployments", kube_namespace, objects.deployment(spec("noisy"), kube_namespace))
    found = wait_for(lambda: [e for e in kube.events(kube_namespace, ["noisy"]) if e.reason == "ScalingReplicaSet"],
                     what="the Deployment's ScalingReplicaSet event")
    assert found[0].kind == "Deployment" and found[0].object == "noisy" and "noisy" in found[0].message
    calls = []
    real = kube.request
    me = threading.get_ident()
    monkeypatch.setattr(kube, "request", lambda *a, **kw: (
        calls.append(a) if threading.get_ident() == me else None, real(*a, **kw))[1])
    for _ in range(5):
        kube.events(kube_namespace, ["noisy", "nothing-by-this-name"])
    assert calls == []  # read from the cache: no API call per viewer and poll


def test_the_events_cache_is_bounded_and_keeps_only_app_objects():
    informer = k.Informer(None, "events")
    informer.bound = 3
    informer.synced.set()

    def event(i, kind="Pod", ns="p"):
        return {"metadata": {"namespace": ns, "name": f"e{i}", "resourceVersion": str(i)},
                "involvedObject": {"kind": kind, "name": f"web-{i}"}, "reason": "Pulled", "message": "m"}
    with informer.lock:
        for i in range(5):
            informer._put(k.view_of_event(event(i)))
    assert sorted(e.name for e in informer.in_namespace("p")) == ["e2", "e3", "e4"]  # the oldest went
    assert k.view_of_event(event(9, kind="Node")) is None
    assert k.view_of_event(event(9, ns="kube-system")) is None


def test_a_fresh_worker_reads_an_app_from_the_server_while_its_cache_fills(kube_cluster, kube, kube_namespace):
    """A worker whose caches are still listing (10,000 pods take seconds) answers an app's
    page from selected list calls instead of waiting for the whole list."""
    ns = kube_namespace
    kube.create("deployments", ns, objects.deployment(spec("early"), ns))
    wait_for(lambda: kube.pods(ns, "early"), what="its pod")
    wait_for(lambda: kube.events(ns, ["early"]), what="the Deployment's events")
    fresh = k.Kube(str(kube_cluster.kubeconfig))
    for informer in fresh.informers.values():
        informer.stop()  # their first lists never end, as in a worker that has just started
    try:
        started = time.monotonic()
        assert fresh.app(ns, "early").name == "early" and fresh.app(ns, "nope") is None
        assert [p.name for p in fresh.pods(ns, "early")] == [p.name for p in kube.pods(ns, "early")]
        assert [r.name for r in fresh.replicasets(ns, "early")] == [r.name for r in kube.replicasets(ns, "early")]
        assert fresh.services(ns, "early") == [] and fresh.hpas(ns, "early") == []
        assert {e.name for e in fresh.events(ns, ["early"])} >= {e.name for e in kube.events(ns, ["early"])}
        assert time.monotonic() - started < 5  # not the 30 s wait for a list
        assert not any(i.synced.is_set() for i in fresh.informers.values())
    finally:
        fresh.close()
