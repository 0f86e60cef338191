"""The simulated kubelet: the only stand-in in Hummer's Kubernetes test harness.

It does what a real kubelet would show through the API, for N nodes at once:

* registers nodes node-1..N (capacity, allocatable, Ready condition, InternalIP
  127.0.0.(2+i), daemonEndpoints) and heartbeats their conditions (node.py);
* watches the pods bound to its nodes (list, then watch from the list's
  resourceVersion, relist on 410; watch.py) and moves each through Pending ->
  Running -> Ready with realistic status (conditions, containerStatuses,
  hostIP, podIP from 172.16.0.0/16, containerID, imageID, startTime), patching
  status from a thread pool (sim.py, workqueue.py); what the status is at a
  given time is podstate.step, a pure function with tests of its own
  (tests/kube/test_podstate.py);
* pulls images from "the registry": every image pulls unless the test sets
  ``known_images`` (a set) or ``registry_checker`` (image -> bool); a missing
  image leaves the container waiting with ErrImagePull, then ImagePullBackOff,
  and is retried every ``pull_retry`` seconds;
* finishes Jobs' pods per ``job_rule(pod) -> "Succeeded" | "Failed" | None``
  after ``job_duration`` seconds (restartPolicy OnFailure: a "Failed" pod
  restarts its containers in place instead, restartCount + 1, lastState
  terminated with exit code 1);
* restarts a running pod's containers in place when a test says ``crash(ns, pod)``
  (restartCount + 1, lastState terminated with exit code 1), as a kubelet does for a
  container that exits under restartPolicy Always;
* deletes pods that carry a deletionTimestamp with gracePeriodSeconds=0 (what
  a kubelet does once the containers are gone);
* posts the kubelet's Events, rate-limited (events.py);
* serves ``/containerLogs/<ns>/<pod>/<container>`` over HTTPS on each node's
  address (server.py, logs.py), so ``pods/log`` through the API server works,
  with tailLines, timestamps, follow, sinceSeconds/sinceTime, limitBytes and
  previous; lines are deterministic, tests can add their own with ``write_log``.

* has the pods use CPU and memory as the tests say (``set_usage`` by pod name or
  label selector, ``set_node_usage``; usage.py, a small default otherwise), and
  serves that as ``metrics.k8s.io/v1beta1`` (metrics.py: PodMetrics, NodeMetrics)
  to the API server's aggregation layer, in place of metrics-server; read it
  directly with ``usage``, ``pod_usage`` and ``node_usage``.

No containers run, nothing is pulled, no probes are run, there is no exec,
attach, port-forward or /stats/summary.
"""
from .events import EVENT_QUEUE
from .node import KUBELET_VERSION
from .podstate import Knobs, PodState, Step
from .rest import ApiError, Rest
from .sim import DEFAULTS, NODE_BASE, POD_CIDR, KubeletSim, default_job_rule
from .usage import DEFAULT_USAGE, Usage

__all__ = ["DEFAULTS", "DEFAULT_USAGE", "EVENT_QUEUE", "KUBELET_VERSION", "NODE_BASE", "POD_CIDR", "ApiError",
           "Knobs", "KubeletSim", "PodState", "Rest", "Step", "Usage", "default_job_rule"]
