"""The Kubernetes harness itself: real etcd, API server, controller-manager and
scheduler, with the simulated kubelet as the only stand-in. No mocks."""
from __future__ import annotations

import ipaddress
import os
import socket
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.support.kube_cluster import KubeCluster, pgroup_alive
from tests.support.waiting import wait_for

pytestmark = pytest.mark.kube

POD_NET = ipaddress.ip_network("172.16.0.0/16")
SERVICE_NET = ipaddress.ip_network("10.0.1.0/24")


def deployment(name, image="hummer/web:1.0", replicas=3, labels=None):
    labels = labels or {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image=image)]))))


def bare_pod(name, image="hummer/web:1.0", containers=("main",)):
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
                        spec=client.V1PodSpec(containers=[client.V1Container(name=c, image=image)
                                                          for c in containers]))


def event_reasons(core, ns, name):
    return {e.reason for e in core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}").items}


def pod_phase(core, ns, name):
    return core.read_namespaced_pod(name, ns).status.phase


@pytest.mark.timeout(90)
def test_deployment_reaches_three_ready_replicas(kube_cluster, kube_api, kube_namespace):
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(kube_namespace, deployment("web"))
    wait_for(lambda: apps.read_namespaced_deployment_status("web", kube_namespace).status.ready_replicas == 3,
             timeout=30, what="3/3 ready")
    pods = core.list_namespaced_pod(kube_namespace, label_selector="app=web").items
    assert len(pods) == 3
    node_ips = {f"127.0.0.{2 + i}" for i in range(kube_cluster.nodes)}
    for p in pods:
        assert p.status.phase == "Running"
        assert p.spec.node_name.startswith("node-")
        assert p.status.host_ip in node_ips
        assert ipaddress.ip_address(p.status.pod_ip) in POD_NET
        conds = {c.type: c.status for c in p.status.conditions}
        assert conds == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
        (cs,) = p.status.container_statuses
        assert cs.ready and cs.started and cs.restart_count == 0 and cs.state.running.started_at
        assert cs.image == "hummer/web:1.0" and cs.container_id.startswith("containerd://")
    assert len({p.status.pod_ip for p in pods}) == 3
    wait_for(lambda: {"Scheduled", "Pulled", "Created", "Started"} <= event_reasons(
        core, kube_namespace, pods[0].metadata.name), timeout=30, what="scheduler and kubelet events")
    # The endpoints controller publishes the ready pods behind a Service.
    core.create_namespaced_service(kube_namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(selector={"app": "web"}, ports=[client.V1ServicePort(port=80)])))

    def endpoint_ips():
        try:
            ep = core.read_namespaced_endpoints("web", kube_namespace)
        except client.ApiException:
            return None
        return {a.ip for s in ep.subsets or [] for a in s.addresses or []}
    wait_for(lambda: endpoint_ips() == {p.status.pod_ip for p in pods}, timeout=15, what="endpoints")


@pytest.mark.timeout(90)
def test_rollout_and_scale_down_delete_pods(kube_api, kube_namespace):
    """Deleted pods go away (the kubelet confirms with grace 0), so rollouts and scale-down finish."""
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(kube_namespace, deployment("roll", replicas=2))
    wait_for(lambda: apps.read_namespaced_deployment_status("roll", kube_namespace).status.ready_replicas == 2,
             what="2 ready")
    apps.patch_namespaced_deployment("roll", kube_namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "hummer/web:2.0"}]}}}})

    def rolled():
        d = apps.read_namespaced_deployment_status("roll", kube_namespace)
        pods = core.list_namespaced_pod(kube_namespace, label_selector="app=roll").items
        return (d.status.updated_replicas == 2 and d.status.ready_replicas == 2 and d.status.replicas == 2
                and len(pods) == 2 and all(p.spec.containers[0].image == "hummer/web:2.0" for p in pods))
    wait_for(rolled, timeout=40, what="rollout to 2.0")
    apps.patch_namespaced_deployment_scale("roll", kube_namespace, {"spec": {"replicas": 0}})
    wait_for(lambda: not core.list_namespaced_pod(kube_namespace, label_selector="app=roll").items,
             timeout=20, what="pods gone after scale to 0")


@pytest.mark.timeout(60)
def test_service_gets_cluster_ip_in_range(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    svc = core.create_namespaced_service(kube_namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1ServiceSpec(selector={"app": "db"}, ports=[client.V1ServicePort(port=3306)])))
    assert ipaddress.ip_address(svc.spec.cluster_ip) in SERVICE_NET
    assert core.read_namespaced_service("kubernetes", "default").spec.cluster_ip == "10.0.1.1"


@pytest.mark.timeout(60)
def test_nfs_volume_and_prebound_claim_become_bound(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    pv_name = f"nfs-{uuid.uuid4().hex[:8]}"
    core.create_persistent_volume(client.V1PersistentVolume(
        metadata=client.V1ObjectMeta(name=pv_name),
        spec=client.V1PersistentVolumeSpec(
            capacity={"storage": "1Gi"}, access_modes=["ReadWriteMany"],
            persistent_volume_reclaim_policy="Retain", storage_class_name="",
            nfs=client.V1NFSVolumeSource(server="127.0.0.1", path="/hummer/x"))))
    try:
        core.create_namespaced_persistent_volume_claim(kube_namespace, client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="data"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteMany"], storage_class_name="", volume_name=pv_name,
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})
                if hasattr(client, "V1VolumeResourceRequirements")
                else client.V1ResourceRequirements(requests={"storage": "1Gi"}))))
        wait_for(lambda: core.read_namespaced_persistent_volume_claim("data", kube_namespace).status.phase
                 == "Bound", timeout=30, what="PVC Bound")
        pv = core.read_persistent_volume(pv_name)
        assert pv.status.phase == "Bound"
        assert pv.spec.claim_ref.name == "data" and pv.spec.claim_ref.namespace == kube_namespace
        assert pv.spec.nfs.server == "127.0.0.1" and pv.spec.nfs.path == "/hummer/x"
    finally:
        core.delete_persistent_volume(pv_name)


@pytest.mark.timeout(60)
def test_update_with_stale_resource_version_conflicts(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    cm = core.create_namespaced_config_map(kube_namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"}))
    stale = cm.metadata.resource_version
    cm.data = {"a": "2"}
    fresh = core.replace_namespaced_config_map("settings", kube_namespace, cm)
    assert fresh.metadata.resource_version != stale
    cm.metadata.resource_version = stale
    cm.data = {"a": "3"}
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map("settings", kube_namespace, cm)
    assert err.value.status == 409
    assert core.read_namespaced_config_map("settings", kube_namespace).data == {"a": "2"}


@pytest.mark.timeout(60)
def test_pod_logs_through_the_api_server(kubelet, kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(kube_namespace, bare_pod("logger", containers=("main", "side")))
    wait_for(lambda: pod_phase(core, kube_namespace, "logger") == "Running", what="Running")
    text = core.read_namespaced_pod_log("logger", kube_namespace, container="main")
    lines = text.splitlines()
    assert lines[0] == "logger main line 1: started with image hummer/web:1.0"
    assert len(lines) == 3
    assert core.read_namespaced_pod_log("logger", kube_namespace, container="side").splitlines()[0] == \
        "logger side line 1: started with image hummer/web:1.0"

    kubelet.write_log(kube_namespace, "logger", "main", "GET /healthz 200\nGET /api 201")
    lines = core.read_namespaced_pod_log("logger", kube_namespace, container="main").splitlines()
    assert lines[-2:] == ["GET /healthz 200", "GET /api 201"]
    assert core.read_namespaced_pod_log("logger", kube_namespace, container="main", tail_lines=1) == \
        "GET /api 201\n"
    stamped = core.read_namespaced_pod_log("logger", kube_namespace, container="main", timestamps=True,
                                           tail_lines=2).splitlines()
    assert [ln.split(" ", 1)[1] for ln in stamped] == ["GET /healthz 200", "GET /api 201"]
    assert stamped[0][:4].isdigit() and stamped[0].split(" ", 1)[0].endswith("Z")
    assert core.read_namespaced_pod_log("logger", kube_namespace, container="main", limit_bytes=6) == "logger"

    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("logger", kube_namespace, container="main", previous=True)
    assert err.value.status == 400

    # follow=true streams: the backlog first, then new lines as they are printed.
    resp = core.read_namespaced_pod_log("logger", kube_namespace, container="main", follow=True, tail_lines=1,
                                        _preload_content=False)
    got = []
    try:
        deadline = time.monotonic() + 20
        written = False
        buf = b""
        for chunk in resp.stream(1024):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                got.append(line.decode())
            if got and not written:
                kubelet.write_log(kube_namespace, "logger", "main", "written while following")
                written = True
            if "written while following" in got and any("still running" in ln for ln in got):
                break
            assert time.monotonic() < deadline, got
    finally:
        resp.release_conn()
        resp.close()
    assert got[0] == "GET /api 201"
    assert "written while following" in got
    assert any(ln.startswith("logger main line ") and ln.endswith(": still running") for ln in got)


@pytest.mark.timeout(60)
def test_missing_image_ends_in_image_pull_backoff(kubelet, kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    kubelet.known_images = {"hummer/web:1.0"}
    core.create_namespaced_pod(kube_namespace, bare_pod("ghost", image="hummer/ghost:9"))
    core.create_namespaced_pod(kube_namespace, bare_pod("real", image="hummer/web:1.0"))

    def waiting_reason():
        st = core.read_namespaced_pod("ghost", kube_namespace).status
        cs = st.container_statuses or []
        return cs and cs[0].state.waiting and cs[0].state.waiting.reason
    wait_for(lambda: waiting_reason() == "ErrImagePull", timeout=15, interval=0.05, what="ErrImagePull")
    wait_for(lambda: waiting_reason() == "ImagePullBackOff", timeout=15, what="ImagePullBackOff")
    pod = core.read_namespaced_pod("ghost", kube_namespace)
    assert pod.status.phase == "Pending"
    assert "hummer/ghost:9" in pod.status.container_statuses[0].state.waiting.message
    wait_for(lambda: {"Failed", "BackOff"} <= event_reasons(core, kube_namespace, "ghost"), timeout=30,
             what="pull failure events")
    wait_for(lambda: pod_phase(core, kube_namespace, "real") == "Running", what="known image runs")
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_pod_log("ghost", kube_namespace)
    assert err.value.status == 400 and "waiting to start" in err.value.body

    # A registry checker takes over; once the image is pushed the retry succeeds.
    pushed = set()
    kubelet.registry_checker = lambda image: image in pushed
    kubelet.pull_retry = 0.5
    pushed.add("hummer/ghost:9")
    wait_for(lambda: pod_phase(core, kube_namespace, "ghost") == "Running", timeout=15, what="pull retried")


def job(name, labels, backoff_limit=0):
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(backoff_limit=backoff_limit, template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(restart_policy="Never", containers=[
                client.V1Container(name="task", image="hummer/batch:1")]))))


@pytest.mark.timeout(60)
def test_job_pods_finish_per_rule(kubelet, kube_api, kube_namespace):
    batch, core = client.BatchV1Api(kube_api), client.CoreV1Api(kube_api)
    kubelet.job_rule = lambda pod: {"ok": "Succeeded", "bad": "Failed"}.get(
        pod["metadata"]["labels"].get("outcome"))
    kubelet.job_duration = 0.5
    batch.create_namespaced_job(kube_namespace, job("good", {"outcome": "ok"}))
    batch.create_namespaced_job(kube_namespace, job("bad", {"outcome": "bad"}))
    batch.create_namespaced_job(kube_namespace, job("slow", {"outcome": "later"}))

    def conditions(name):
        return {c.type: c.status for c in batch.read_namespaced_job_status(name, kube_namespace).status.conditions
                or []}
    wait_for(lambda: conditions("good").get("Complete") == "True", timeout=30, what="Job Complete")
    good = batch.read_namespaced_job_status("good", kube_namespace)
    assert good.status.succeeded == 1 and good.status.completion_time
    (pod,) = core.list_namespaced_pod(kube_namespace, label_selector="job-name=good").items
    assert pod.status.phase == "Succeeded"
    term = pod.status.container_statuses[0].state.terminated
    assert term.exit_code == 0 and term.reason == "Completed"
    assert core.read_namespaced_pod_log(pod.metadata.name, kube_namespace).splitlines()[-1].endswith(
        "exited with code 0")

    wait_for(lambda: conditions("bad").get("Failed") == "True", timeout=30, what="Job Failed")
    # The rule said None: the pod keeps running until the rule decides.
    (slow,) = wait_for(lambda: core.list_namespaced_pod(kube_namespace, label_selector="job-name=slow").items,
                       what="slow pod")
    wait_for(lambda: pod_phase(core, kube_namespace, slow.metadata.name) == "Running", what="slow Running")
    said, rule = [], kubelet.job_rule

    def asked(pod):  # the same rule, its answers about the slow pod noted
        outcome = rule(pod)
        if pod["metadata"]["labels"].get("outcome") == "later":
            said.append(outcome)
        return outcome
    kubelet.job_rule = asked
    wait_for(lambda: said.count(None) >= 2, timeout=10, what="the rule to be asked about the slow pod twice more")
    assert pod_phase(core, kube_namespace, slow.metadata.name) == "Running"
    kubelet.job_rule = lambda pod: "Succeeded"
    wait_for(lambda: conditions("slow").get("Complete") == "True", timeout=30, what="slow Job Complete")


@pytest.mark.timeout(60)
def test_on_failure_job_restarts_in_place_until_backoff_limit(kubelet, kube_api, kube_namespace):
    batch, core = client.BatchV1Api(kube_api), client.CoreV1Api(kube_api)
    kubelet.job_rule = lambda pod: "Failed"
    kubelet.job_duration = 0.3
    j = job("crashy", {"app": "crashy"}, backoff_limit=2)
    j.spec.template.spec.restart_policy = "OnFailure"
    batch.create_namespaced_job(kube_namespace, j)

    def restarts():
        pods = core.list_namespaced_pod(kube_namespace, label_selector="job-name=crashy").items
        return max([cs.restart_count for p in pods for cs in p.status.container_statuses or []] or [0])
    wait_for(lambda: restarts() >= 1, timeout=20, what="a restart")
    (pod,) = core.list_namespaced_pod(kube_namespace, label_selector="job-name=crashy").items
    assert pod.status.phase == "Running"
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1
    assert core.read_namespaced_pod_log(pod.metadata.name, kube_namespace, previous=True).splitlines()[-1] \
        .endswith("exited with code 1")
    wait_for(lambda: any(c.type == "Failed" and c.status == "True" for c in
                         batch.read_namespaced_job_status("crashy", kube_namespace).status.conditions or []),
             timeout=30, what="Job Failed after backoffLimit restarts")


@pytest.mark.timeout(60)
def test_ready_delay_and_start_delay(kubelet, kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    kubelet.start_delay = 0.6
    kubelet.ready_delay = 1.0
    core.create_namespaced_pod(kube_namespace, bare_pod("slow"))
    seen = []

    def step():
        st = core.read_namespaced_pod("slow", kube_namespace).status
        ready = {c.type: c.status for c in st.conditions or []}.get("Ready")
        waiting = st.container_statuses and st.container_statuses[0].state.waiting
        state = (st.phase, ready, waiting.reason if waiting else None)
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == ("Running", "True", None)
    wait_for(step, timeout=20, interval=0.05, what="Ready")
    assert ("Pending", "False", "ContainerCreating") in seen
    assert ("Running", "False", None) in seen
    assert seen[-1] == ("Running", "True", None)


@pytest.mark.timeout(60)
def test_namespace_deletion_completes(kube_cluster, kube_api):
    from tests.support.kube_fixtures import create_namespace
    core, apps = client.CoreV1Api(kube_api), client.AppsV1Api(kube_api)
    ns = create_namespace(kube_cluster, kube_api, f"t-delete-{uuid.uuid4().hex[:6]}")
    apps.create_namespaced_deployment(ns, deployment("web", replicas=2))
    wait_for(lambda: apps.read_namespaced_deployment_status("web", ns).status.ready_replicas == 2, what="ready")
    core.delete_namespace(ns)

    def gone():
        try:
            core.read_namespace(ns)
        except client.ApiException as e:
            return e.status == 404
        return False
    wait_for(gone, timeout=45, interval=0.25, what="namespace gone")


def _pids_alive(pids):
    return [p for p in pids if Path(f"/proc/{p}").exists()
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]


@pytest.mark.timeout(120)
def test_second_cluster_survives_apiserver_restart_then_stops_cleanly(kube_cluster):
    other = KubeCluster(nodes=1, bin_dir=kube_cluster.bin_dir, name="hummer-stop-test")
    other.start()
    try:
        pids = dict(other.pids)
        ports = dict(other.ports)
        kubelet_port = other.kubelet.ports["node-1"]
        workdir = other.workdir
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
        assert other.readyz() and other.nodes_ready()
        assert other.api_url != kube_cluster.api_url
        api = other.api_client()
        core = client.CoreV1Api(api)
        assert [n.metadata.name for n in core.list_node().items] == ["node-1"]
        core.create_namespaced_pod("default", bare_pod("before"))
        wait_for(lambda: pod_phase(core, "default", "before") == "Running", what="Running")

        # A restarted API server has a fresh watch cache: resuming the pod
        # watch from an old resourceVersion gets 410 Gone, and the kubelet relists.
        other.restart_apiserver(grace=0.5)
        pids["kube-apiserver"] = other.pids["kube-apiserver"]
        relists = other.kubelet.stats["relists"]
        other.kubelet.reconnect_watch(resource_version="1")
        wait_for(lambda: other.kubelet.stats["relists"] > relists, timeout=20, what="relist after 410")
        core.create_namespaced_pod("default", bare_pod("after"))
        wait_for(lambda: pod_phase(core, "default", "after") == "Running", timeout=30, what="Running after relist")
        core.delete_namespaced_pod("before", "default")
        wait_for(lambda: [p.metadata.name for p in core.list_namespaced_pod("default").items] == ["after"],
                 timeout=20, what="deleted pod gone")
        api.close()
    finally:
        stopped = other.stop()
    assert stopped == pids
    assert _pids_alive(pids.values()) == []
    assert not any(pgroup_alive(p) for p in pids.values())
    assert other.leftovers() == []
    for name, port in ports.items():
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"{name} port {port} still open"
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.2", kubelet_port)) != 0
    assert not workdir.exists()
    assert other.stop() == {}  # idempotent
    # The session cluster is untouched.
    assert kube_cluster.readyz()
    assert os.path.exists(kube_cluster.kubeconfig)
