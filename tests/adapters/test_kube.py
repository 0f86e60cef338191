"""portal.adapters.kube against the real API server: error classes, idempotent create
and delete, retries, the builders, and the watch-fed cache (list, watch, 410 relist,
read-your-writes)."""
from __future__ import annotations

import time

import pytest

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
             volumes=[VolumeMountSpec("data", "claim", "/data")])
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
    wait_for(lambda: kube.pods(kube_namespace, "slim"), what="a pod")
    pod = kube.pods(kube_namespace, "slim")[0]
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
