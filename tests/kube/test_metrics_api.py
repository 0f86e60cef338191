"""The metrics stand-in: the simulated kubelet's synthetic usage as metrics.k8s.io, reached
through the real API server's aggregation layer (and refused to anyone else); its pure
parts (quantities, label selectors, the order of the rules) without a cluster."""
from __future__ import annotations

import ssl
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from tests.kube.test_cluster import bare_pod, deployment, pod_phase
from tests.support.aggregation import APISERVICE
from tests.support.kubelet_sim.usage import (
    DEFAULT_USAGE,
    UsageRules,
    cpu_nanocores,
    memory_bytes,
    parse_selector,
    selector_matches,
)
from tests.support.waiting import wait_for

GROUP, VERSION = "metrics.k8s.io", "v1beta1"


def pod_metrics(kube_api, ns, selector=None) -> dict[str, dict]:
    doc = client.CustomObjectsApi(kube_api).list_namespaced_custom_object(GROUP, VERSION, ns, "pods",
                                                                           label_selector=selector or "")
    return {i["metadata"]["name"]: {c["name"]: c["usage"] for c in i["containers"]} for i in doc["items"]}


# --------------------------------------------------------------------------- pure

@pytest.mark.parametrize("value, nanocores", [
    ("700m", 700_000_000), ("0.7", 700_000_000), (0.7, 700_000_000), (2, 2_000_000_000),
    ("250000n", 250_000), ("1500u", 1_500_000), ("1e-1", 100_000_000)])
def test_cpu_quantities(value, nanocores):
    assert cpu_nanocores(value) == nanocores


@pytest.mark.parametrize("value, nbytes", [
    ("128Mi", 128 * 2**20), (4096, 4096), ("1G", 10**9), ("1.5Ki", 1536), ("2e3", 2000)])
def test_memory_quantities(value, nbytes):
    assert memory_bytes(value) == nbytes


@pytest.mark.parametrize("bad", ["", "seven", "7 m", "7mi", "-1", True])
def test_bad_quantities_are_refused(bad):
    with pytest.raises(ValueError):
        cpu_nanocores(bad)


@pytest.mark.parametrize("selector, labels, matches", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app=web,tier in (front, back)", {"app": "web", "tier": "back"}, True),
    ("app=web,tier in (front, back)", {"app": "web"}, False),
    ("tier notin (front)", {"tier": "back"}, True),
    ("canary", {"canary": ""}, True),
    ("!canary", {"canary": "yes"}, False),
    ("hummer.io/app=web", {"hummer.io/app": "web", "pod-template-hash": "x"}, True),
    ({"app": "web"}, {"app": "web"}, True),
    ("", {"anything": "x"}, True),
])
def test_label_selectors(selector, labels, matches):
    assert selector_matches(parse_selector(selector), labels) is matches


def test_later_rules_win_field_by_field():
    rules = UsageRules()
    web = {"app": "web"}
    assert rules.of("a", "web-1", web) == DEFAULT_USAGE
    rules.set("a", "app=web", cpu="300m", memory="64Mi")
    rules.set("a", "web-2", cpu=1)
    rules.set(None, "app=db", reported=False)
    assert rules.of("a", "web-1", web).cpu == 300_000_000
    assert rules.of("a", "web-2", web).cpu == 10**9 and rules.of("a", "web-2", web).memory == 64 * 2**20
    assert rules.of("b", "web-1", web) == DEFAULT_USAGE, "another namespace"
    assert rules.of("a", "db-1", {"app": "db"}) is None and rules.of("b", "db-1", {"app": "db"}) is None
    rules.set("a", {"app": "db"}, memory="1Gi")  # a figure given: reported again
    assert rules.of("a", "db-1", {"app": "db"}).memory == 2**30
    rules.clear()
    assert rules.of("a", "web-2", web) == DEFAULT_USAGE


# --------------------------------------------------------------------------- through the API server

@pytest.mark.kube
def test_the_apiservice_is_available_and_discovered(kube_cluster):
    svc = kube_cluster.get_json(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    available = {c["type"]: c for c in svc["status"]["conditions"]}["Available"]
    assert (available["status"], available["reason"]) == ("True", "Passed")
    resources = kube_cluster.get_json(f"/apis/{GROUP}/{VERSION}")
    assert {r["name"]: r["kind"] for r in resources["resources"]} == {"nodes": "NodeMetrics", "pods": "PodMetrics"}
    groups = kube_cluster.get_json("/apis")
    assert GROUP in [g["name"] for g in groups["groups"]]
    eps = kube_cluster.get_json("/api/v1/namespaces/kube-system/endpoints/metrics-server")
    assert eps["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]


@pytest.mark.kube
@pytest.mark.timeout(60)
def test_pods_are_listed_by_selector_with_the_usage_set(kubelet, kube_api, kube_namespace):
    ns = kube_namespace
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(ns, deployment("web", replicas=2))
    core.create_namespaced_pod(ns, bare_pod("solo", containers=("main", "side")))
    wait_for(lambda: len(pod_metrics(kube_api, ns)) == 3, what="3 pods with metrics")
    web = pod_metrics(kube_api, ns, "app=web")
    assert len(web) == 2 and all(u == {"web": {"cpu": "5000000n", "memory": "32768Ki"}} for u in web.values())

    kubelet.set_usage(ns, "app=web", cpu="700m", memory="200Mi")
    kubelet.set_usage(ns, "solo", cpu=0.25)
    assert all(u["web"] == {"cpu": "700000000n", "memory": "204800Ki"} for u in pod_metrics(kube_api, ns).values()
               if "web" in u)
    assert pod_metrics(kube_api, ns, "app=solo") == {"solo": {c: {"cpu": "250000000n", "memory": "32768Ki"}
                                                              for c in ("main", "side")}}
    assert kubelet.pod_usage(ns, "solo").cpu_millicores == 500  # the pod: both containers

    # A pod made later by the selector's Deployment gets the same figures.
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    web = wait_for(lambda: (lambda m: len(m) == 3 and m)(pod_metrics(kube_api, ns, "app=web")),
                   what="the third pod's metrics")
    assert {u["web"]["cpu"] for u in web.values()} == {"700000000n"}

    one = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(GROUP, VERSION, ns, "pods", "solo")
    assert one["kind"] == "PodMetrics" and one["window"] == "1s" and one["timestamp"].endswith("Z")
    with pytest.raises(client.ApiException) as err:
        client.CustomObjectsApi(kube_api).get_namespaced_custom_object(GROUP, VERSION, ns, "pods", "ghost")
    assert err.value.status == 404

    kubelet.set_usage(ns, "app=web", reported=False)
    assert list(pod_metrics(kube_api, ns)) == ["solo"]


@pytest.mark.kube
@pytest.mark.timeout(60)
def test_pods_not_running_have_no_metrics(kubelet, kube_api, kube_namespace):
    ns = kube_namespace
    core = client.CoreV1Api(kube_api)
    kubelet.known_images = {"hummer/web:1.0"}
    core.create_namespaced_pod(ns, bare_pod("ghost", image="hummer/ghost:9"))
    core.create_namespaced_pod(ns, bare_pod("real"))
    wait_for(lambda: pod_phase(core, ns, "real") == "Running", what="Running")
    assert pod_phase(core, ns, "ghost") == "Pending"
    assert list(pod_metrics(kube_api, ns)) == ["real"]


@pytest.mark.kube
@pytest.mark.timeout(60)
def test_a_nodes_usage_is_its_own_plus_its_pods(kubelet, kube_api, kube_namespace):
    ns = kube_namespace
    core = client.CoreV1Api(kube_api)
    pod = bare_pod("pinned")
    pod.spec.node_name = "node-2"
    core.create_namespaced_pod(ns, pod)
    wait_for(lambda: pod_phase(core, ns, "pinned") == "Running", what="Running")
    kubelet.set_usage(ns, "pinned", cpu="1", memory="1Gi")
    kubelet.set_node_usage("node-2", cpu="200m", memory="512Mi")
    nodes = client.CustomObjectsApi(kube_api)
    got = nodes.get_cluster_custom_object(GROUP, VERSION, "nodes", "node-2")
    # the node's usage also has the other tests' pods on node-2: at least its own and the pinned pod's
    assert got["kind"] == "NodeMetrics" and cpu_nanocores(got["usage"]["cpu"]) >= cpu_nanocores("1200m")
    assert memory_bytes(got["usage"]["memory"]) >= memory_bytes("1536Mi")
    listed = nodes.list_cluster_custom_object(GROUP, VERSION, "nodes", label_selector="kubernetes.io/hostname=node-2")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["node-2"]


@pytest.mark.kube
def test_only_the_api_servers_proxy_certificate_is_let_in(kube_cluster):
    port = kube_cluster.kubelet.metrics_server.port
    url = f"https://127.0.0.1:{port}/apis/{GROUP}/{VERSION}/pods"
    pki = kube_cluster.pki
    for cert in (None, (pki["kubelet_crt"], pki["kubelet_key"])):  # none, or one of the wrong CA
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        if cert:
            ctx.load_cert_chain(*map(str, cert))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(urllib.request.Request(url, headers={"X-Remote-User": "mallory"}),
                                   context=ctx, timeout=5).read()
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    ctx.load_cert_chain(str(pki["front_proxy_client_crt"]), str(pki["front_proxy_client_key"]))
    with urllib.request.urlopen(urllib.request.Request(url, headers={"X-Remote-User": "system:kube-aggregator"}),
                                context=ctx, timeout=5) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:  # the right certificate, but no user forwarded
        urllib.request.urlopen(url, context=ctx, timeout=5)
    err.value.close()
    assert err.value.code == 401
