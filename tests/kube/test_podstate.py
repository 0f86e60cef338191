"""The simulated kubelet's pod-status state machine (tests/support/kubelet_sim/podstate.py)
without a cluster: every transition it makes, at times the test chooses."""
from __future__ import annotations

import itertools

import pytest

from tests.support.kubelet_sim import podstate
from tests.support.kubelet_sim.events import pod_events
from tests.support.kubelet_sim.podstate import Knobs, LogLine, PodState, Restart, action, step

T0 = 1_700_000_000.0
HOST = "127.0.0.2"


def make_pod(containers=("web",), inits=(), image="hummer/web:1.0", job=False, restart_policy="Always",
             phase=None, deleting=False):
    meta = {"name": "p", "namespace": "ns", "uid": "u-1"}
    if job:
        meta["ownerReferences"] = [{"kind": "Job", "name": "j"}]
    if deleting:
        meta["deletionTimestamp"] = "2023-11-14T22:13:20Z"
    pod = {"metadata": meta,
           "spec": {"nodeName": "node-1", "restartPolicy": restart_policy,
                    "containers": [{"name": c, "image": image} for c in containers]}}
    if inits:
        pod["spec"]["initContainers"] = [{"name": c, "image": "hummer/init:1"} for c in inits]
    if phase:
        pod["status"] = {"phase": phase}
    return pod


class Run:
    """Drives step() the way the simulator does: feeds back the state, collects the logs."""

    def __init__(self, pod, **knobs):
        self.pod, self.knobs = pod, Knobs(**knobs)
        self.state = PodState(pod["metadata"]["uid"])
        self.ips = (f"172.16.0.{i}" for i in itertools.count(1))
        self.logs: list = []
        self.allocations = 0

    def _ip(self):
        self.allocations += 1
        return next(self.ips)

    def at(self, t: float) -> podstate.Step:
        s = step(self.pod, self.state, T0 + t, self.knobs, HOST, self._ip)
        self.state = s.state
        self.logs += s.logs
        return s


def conds(status):
    return {c["type"]: c["status"] for c in status["conditions"]}


def waiting(status, key="containerStatuses"):
    return [cs["state"].get("waiting", {}).get("reason") for cs in status[key]]


# ---------------------------------------------------------------- Pending -> Running -> Ready

def test_a_pod_runs_and_is_ready_at_once_by_default():
    run = Run(make_pod())
    s = run.at(0)
    assert s.status["phase"] == "Running" and s.requeue is None and not s.terminal
    assert conds(s.status) == {"Initialized": "True", "Ready": "True", "ContainersReady": "True",
                               "PodScheduled": "True"}
    cs = s.status["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "running" in cs["state"]
    assert cs["containerID"].startswith("containerd://") and cs["imageID"].startswith("docker-pullable://hummer/web")
    assert s.status["hostIP"] == HOST and s.status["podIP"] == "172.16.0.1"
    assert s.status["podIPs"] == [{"ip": "172.16.0.1"}]
    assert s.status["startTime"] == podstate.rfc3339(T0)
    assert s.state.running_since == T0 and s.state.scheduled_at == T0


def test_the_containers_print_three_lines_when_they_start():
    run = Run(make_pod(containers=("web", "side")))
    run.at(0)
    assert [(e.container, e.text) for e in run.logs] == [
        ("web", "started with image hummer/web:1.0"), ("web", "configuration loaded"), ("web", "ready to serve"),
        ("side", "started with image hummer/web:1.0"), ("side", "configuration loaded"), ("side", "ready to serve")]
    assert all(e.ts_ns == int(T0 * 1e9) for e in run.logs)
    run.at(5)
    assert len(run.logs) == 6, "a running pod prints nothing more by itself"


def test_container_creating_for_start_delay():
    run = Run(make_pod(), start_delay=2.0)
    s = run.at(0)
    assert s.status["phase"] == "Pending" and waiting(s.status) == ["ContainerCreating"]
    assert conds(s.status)["Ready"] == "False" and s.requeue == pytest.approx(2.0)
    assert "podIP" not in s.status and run.allocations == 0 and not run.logs
    s = run.at(1.5)
    assert s.status["phase"] == "Pending" and s.requeue == pytest.approx(0.5)
    s = run.at(2.0)
    assert s.status["phase"] == "Running" and run.allocations == 1
    assert s.status["startTime"] == podstate.rfc3339(T0), "started when first seen, not when running"


def test_running_but_not_ready_for_ready_delay():
    run = Run(make_pod(containers=("web", "side")), ready_delay=1.5)
    s = run.at(0)
    assert s.status["phase"] == "Running" and s.requeue == pytest.approx(1.5)
    ready = next(c for c in s.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [web,side]"
    assert [cs["ready"] for cs in s.status["containerStatuses"]] == [False, False]
    s = run.at(1.0)
    assert conds(s.status)["Ready"] == "False" and s.requeue == pytest.approx(0.5)
    s = run.at(1.5)
    assert conds(s.status)["Ready"] == "True" and s.requeue is None
    ready = next(c for c in s.status["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == podstate.rfc3339(T0 + 1.5) and "reason" not in ready
    assert run.allocations == 1, "the pod keeps its IP"


def test_the_scheduler_condition_is_kept():
    pod = make_pod()
    pod["status"] = {"conditions": [{"type": "PodScheduled", "status": "True",
                                     "lastTransitionTime": "2020-01-01T00:00:00Z", "lastProbeTime": "x"}]}
    s = Run(pod).at(0)
    sched = next(c for c in s.status["conditions"] if c["type"] == "PodScheduled")
    assert sched == {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z",
                     "lastProbeTime": None}


def test_init_containers_complete_before_the_pod_runs():
    run = Run(make_pod(inits=("migrate",)), start_delay=1.0)
    s = run.at(0)
    assert conds(s.status)["Initialized"] == "False" and "initContainerStatuses" not in s.status
    s = run.at(1.0)
    assert conds(s.status)["Initialized"] == "True" and s.status["phase"] == "Running"
    (init,) = s.status["initContainerStatuses"]
    assert init["name"] == "migrate" and init["ready"] and init["state"]["terminated"]["reason"] == "Completed"
    assert init["state"]["terminated"]["exitCode"] == 0
    assert {e.container for e in run.logs} == {"web"}, "init containers print nothing"


# ---------------------------------------------------------------- image pulls

def test_a_missing_image_goes_err_image_pull_then_back_off_then_pulls():
    pushed = set()
    run = Run(make_pod(image="hummer/web:2.0"), image_exists=lambda image: image in pushed,
              pull_backoff_after=1.0, pull_retry=3.0)
    s = run.at(0)
    assert s.status["phase"] == "Pending" and waiting(s.status) == ["ErrImagePull"]
    assert 'failed to pull and unpack image "hummer/web:2.0": not found' in \
        s.status["containerStatuses"][0]["state"]["waiting"]["message"]
    assert s.requeue == pytest.approx(1.0) and s.state.pull_failed_since == T0
    s = run.at(0.5)
    assert waiting(s.status) == ["ErrImagePull"] and s.requeue == pytest.approx(0.5)
    s = run.at(1.0)
    assert waiting(s.status) == ["ImagePullBackOff"] and s.requeue == 3.0
    assert s.status["containerStatuses"][0]["state"]["waiting"]["message"] == \
        'Back-off pulling image "hummer/web:2.0"'
    assert run.allocations == 0 and not run.logs
    pushed.add("hummer/web:2.0")
    s = run.at(4.0)
    assert s.status["phase"] == "Running" and s.state.pull_failed_since is None
    assert s.state.running_since == T0 + 4.0 and run.allocations == 1 and len(run.logs) == 3


def test_only_the_missing_image_fails_the_others_wait():
    pod = make_pod(containers=("web", "side"))
    pod["spec"]["containers"][1]["image"] = "gone:1"
    s = Run(pod, image_exists=lambda image: image != "gone:1").at(0)
    assert waiting(s.status) == ["ContainerCreating", "ErrImagePull"]


def test_a_missing_init_image_holds_back_the_containers():
    pod = make_pod(inits=("migrate",))
    s = Run(pod, image_exists=lambda image: image != "hummer/init:1").at(0)
    assert waiting(s.status, "initContainerStatuses") == ["ErrImagePull"]
    assert waiting(s.status) == ["PodInitializing"]


def test_normalize_image():
    assert podstate.normalize_image("nginx") == "nginx:latest"
    assert podstate.normalize_image("registry:5000/nginx") == "registry:5000/nginx:latest"
    assert podstate.normalize_image("nginx:1.19") == "nginx:1.19"
    assert podstate.normalize_image("nginx@sha256:ab") == "nginx@sha256:ab"


# ---------------------------------------------------------------- Jobs

def test_a_jobs_pod_succeeds_after_job_duration():
    run = Run(make_pod(job=True, restart_policy="Never"), job_duration=2.0)
    s = run.at(0)
    assert s.status["phase"] == "Running" and s.requeue == pytest.approx(2.0)
    s = run.at(2.0)
    assert s.status["phase"] == "Succeeded" and s.terminal and s.requeue is None
    (cs,) = s.status["containerStatuses"]
    assert cs["state"]["terminated"]["exitCode"] == 0 and cs["state"]["terminated"]["reason"] == "Completed"
    assert cs["state"]["terminated"]["finishedAt"] == podstate.rfc3339(T0 + 2.0) and not cs["ready"]
    assert {c["type"]: c.get("reason") for c in s.status["conditions"]} == {
        "Initialized": "PodCompleted", "Ready": "PodCompleted", "ContainersReady": "PodCompleted",
        "PodScheduled": None}
    assert run.logs[-1] == LogLine("web", "exited with code 0", int((T0 + 2.0) * 1e9))
    again = run.at(9.0)
    assert again.status == s.status and again.logs == (), "the end is written once"


def test_a_jobs_pod_fails_with_exit_code_1():
    s = Run(make_pod(job=True, restart_policy="Never"), job_duration=0.0, job_rule=lambda pod: "Failed").at(0.0)
    assert s.status["phase"] == "Failed" and s.terminal
    term = s.status["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 1 and term["reason"] == "Error"


def test_a_job_rule_of_none_keeps_it_running_and_asks_again_every_second():
    answers = iter([None, None, "Succeeded"])
    run = Run(make_pod(job=True), job_duration=0.5, job_rule=lambda pod: next(answers))
    assert run.at(0).requeue == pytest.approx(0.5)
    s = run.at(0.5)
    assert s.status["phase"] == "Running" and s.requeue == 1.0
    assert run.at(1.5).status["phase"] == "Running"
    assert run.at(2.5).status["phase"] == "Succeeded"


def test_on_failure_restarts_the_containers_in_place():
    outcomes = iter(["Failed", "Failed", "Succeeded"])
    run = Run(make_pod(job=True, restart_policy="OnFailure"), job_duration=1.0, job_rule=lambda pod: next(outcomes))
    first = run.at(0).status["containerStatuses"][0]["containerID"]
    s = run.at(1.0)
    assert s.status["phase"] == "Running" and s.requeue == 1.0 and s.state.restarts == 1
    cs = s.status["containerStatuses"][0]
    assert cs["restartCount"] == 1 and cs["containerID"] != first
    assert cs["state"]["running"]["startedAt"] == podstate.rfc3339(T0 + 1.0)
    assert cs["lastState"]["terminated"] == {"exitCode": 1, "reason": "Error", "startedAt": podstate.rfc3339(T0),
                                             "finishedAt": podstate.rfc3339(T0 + 1.0), "containerID": first}
    assert list(s.logs) == [LogLine("web", "exited with code 1", int((T0 + 1.0) * 1e9)), Restart("web"),
                            LogLine("web", "started with image hummer/web:1.0", int((T0 + 1.0) * 1e9))]
    assert run.at(1.5).requeue == pytest.approx(0.5), "the job runs job_duration from its restart"
    s = run.at(2.0)
    assert s.state.restarts == 2 and s.status["containerStatuses"][0]["restartCount"] == 2
    s = run.at(3.0)
    assert s.status["phase"] == "Succeeded"
    cs = s.status["containerStatuses"][0]
    assert cs["restartCount"] == 2 and cs["state"]["terminated"]["startedAt"] == podstate.rfc3339(T0 + 2.0)


def test_never_restarts_a_failed_pod():
    s = Run(make_pod(job=True, restart_policy="Never"), job_duration=0.0, job_rule=lambda pod: "Failed").at(0)
    assert s.status["phase"] == "Failed" and s.state.restarts == 0


def test_pods_not_owned_by_a_job_never_finish():
    run = Run(make_pod(), job_duration=0.0, job_rule=lambda pod: "Failed")
    assert run.at(0).status["phase"] == "Running" and run.at(100).status["phase"] == "Running"


# ---------------------------------------------------------------- deletion and finished pods

def test_a_terminating_pod_is_deleted_at_once():
    assert action(make_pod(deleting=True), seen=True, terminal=False) == "delete"
    assert action(make_pod(deleting=True), seen=False, terminal=False) == "delete"
    assert action(make_pod(deleting=True), seen=True, terminal=True) == "delete"


def test_finished_pods_are_left_alone():
    assert action(make_pod(), seen=True, terminal=True) == "ignore"
    assert action(make_pod(phase="Succeeded"), seen=False, terminal=False) == "ignore"
    assert action(make_pod(phase="Failed"), seen=False, terminal=False) == "ignore"
    assert action(make_pod(phase="Running"), seen=False, terminal=False) == "step"
    assert action(make_pod(), seen=False, terminal=False) == "step"


def test_step_never_changes_the_state_it_was_given():
    state = PodState("u-1")
    step(make_pod(), state, T0, Knobs(), HOST, lambda: "172.16.0.1")
    assert state == PodState("u-1")


# ---------------------------------------------------------------- the Events these statuses make

def test_events_for_pulls_and_starts():
    pod = make_pod(inits=("migrate",))
    s = Run(pod, image_exists=lambda image: False).at(0)
    assert [(e.reason, e.type, e.field_path) for e in pod_events(pod, s.status)] == [
        ("Failed", "Warning", "spec.initContainers{migrate}"), ("Failed", "Warning", "spec.containers{web}")]
    run = Run(pod, image_exists=lambda image: False)
    run.at(0)
    s = run.at(1.0)
    assert [e.reason for e in pod_events(pod, s.status)] == ["BackOff", "BackOff"]
    s = Run(pod).at(0)
    assert [(e.reason, e.once) for e in pod_events(pod, s.status)] == [
        ("Pulled", ("migrate", "Pulled", 0)), ("Created", ("migrate", "Created", 0)),
        ("Started", ("migrate", "Started", 0)),
        ("Pulled", ("web", "Pulled", 0)), ("Created", ("web", "Created", 0)), ("Started", ("web", "Started", 0))]


def test_a_restart_makes_new_start_events():
    outcomes = iter(["Failed"])
    pod = make_pod(job=True, restart_policy="OnFailure")
    run = Run(pod, job_duration=1.0, job_rule=lambda p: next(outcomes))
    run.at(0)
    s = run.at(1.0)
    assert {e.once for e in pod_events(pod, s.status)} == {("web", "Pulled", 1), ("web", "Created", 1),
                                                           ("web", "Started", 1)}
