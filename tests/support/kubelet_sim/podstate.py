"""The simulated kubelet's pod-status state machine, pure.

``step(pod, state, now, knobs, host_ip, alloc_ip)`` answers: given the pod as
the API server has it, what the simulator remembers of it (a ``PodState``),
the time and the simulator's knobs, which status should the pod have now,
when should the simulator look at it again, what it remembers afterwards,
and which lines its containers print. No I/O and no clock: the time is an
argument, the registry and the Job rule are the knobs' callables, and the
pod IP comes from ``alloc_ip`` when the pod starts running.

The phases, in the order ``step`` checks them:

1. ContainerCreating for ``start_delay`` seconds after the first sight of the pod;
2. image pulls: a missing image waits with ErrImagePull, then, after
   ``pull_backoff_after`` seconds of failing, ImagePullBackOff, looked at
   again every ``pull_retry`` seconds;
3. Running (init containers Completed), Ready ``ready_delay`` seconds later;
4. a Job's pod, ``job_duration`` seconds after it started (or restarted), ends
   per ``job_rule(pod)``: "Succeeded", "Failed" or None (keeps running); with
   restartPolicy OnFailure a "Failed" one restarts its containers instead
   (restartCount + 1, lastState terminated with exit code 1).
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

TERMINAL_PHASES = ("Succeeded", "Failed")


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_image(image: str) -> str:
    """``name`` and ``name:latest`` are the same image; a digest or tag is kept."""
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


def _always(image: str) -> bool:
    return True


def _succeed(pod: dict) -> str | None:
    return "Succeeded"


@dataclass(frozen=True)
class Knobs:
    """What a test may tell the kubelet, as the state machine sees it."""
    start_delay: float = 0.0
    ready_delay: float = 0.0
    job_duration: float = 1.0
    pull_backoff_after: float = 1.0
    pull_retry: float = 3.0
    image_exists: Callable[[str], bool] = _always
    job_rule: Callable[[dict], str | None] = _succeed


@dataclass(frozen=True)
class PodState:
    """What the kubelet remembers of one pod (by uid) between two looks."""
    uid: str
    ip: str | None = None
    scheduled_at: float | None = None      # first seen
    running_since: float | None = None     # images pulled, containers started
    pull_failed_since: float | None = None
    finished_at: float | None = None       # a Job's pod ended
    restarts: int = 0
    last_restart: float | None = None


@dataclass(frozen=True)
class LogLine:
    """The container prints a generated line ("<pod> <container> line N: <text>") at ts_ns."""
    container: str
    text: str
    ts_ns: int


@dataclass(frozen=True)
class Restart:
    """The container restarted: its log becomes the previous one."""
    container: str


@dataclass(frozen=True)
class Step:
    status: dict
    requeue: float | None          # seconds until the next look; None: nothing will change by itself
    state: PodState
    logs: tuple = field(default=())  # LogLine and Restart, in order

    @property
    def terminal(self) -> bool:
        return self.status.get("phase") in TERMINAL_PHASES


def condition(ctype: str, ok: bool, ts: str, reason: str | None = None, message: str | None = None) -> dict:
    c = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None, "lastTransitionTime": ts}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def readiness(ready: bool, ts: str, names: str) -> list[dict]:
    """The Ready and ContainersReady conditions, with the kubelet's reason when not ready."""
    reason = None if ready else "ContainersNotReady"
    message = None if ready else f"containers with unready status: [{names}]"
    return [condition("Ready", ready, ts, reason, message),
            condition("ContainersReady", ready, ts, reason, message)]


def image_id(c: dict) -> str:
    image = c.get("image", "")
    return "docker-pullable://{}@sha256:{}".format(image.split("@")[0], hashlib.sha256(image.encode()).hexdigest())


def container_id(uid: str, c: dict, n: int = 0) -> str:
    return "containerd://" + hashlib.sha256(f"{uid}/{c['name']}/{n}".encode()).hexdigest()


def _waiting(c: dict, reason: str, message: str | None = None) -> dict:
    w = {"reason": reason}
    if message:
        w["message"] = message
    return {"name": c["name"], "state": {"waiting": w}, "lastState": {}, "ready": False,
            "restartCount": 0, "image": c.get("image", ""), "imageID": "", "started": False}


def is_job_pod(pod: dict) -> bool:
    return any(o.get("kind") == "Job" for o in pod["metadata"].get("ownerReferences") or [])


def action(pod: dict, seen: bool, terminal: bool) -> str:
    """What the kubelet does with a pod it is told about: "delete" (it is
    terminating: the containers are gone at once, so grace 0), "ignore" (it
    finished, or was already finished when first seen), or "step"."""
    if pod["metadata"].get("deletionTimestamp"):
        return "delete"
    if terminal or (not seen and (pod.get("status") or {}).get("phase") in TERMINAL_PHASES):
        return "ignore"
    return "step"


def step(pod: dict, state: PodState, now: float, knobs: Knobs, host_ip: str,
         alloc_ip: Callable[[], str]) -> Step:
    """The status this pod should have at ``now``, and when to look again."""
    spec, status = pod["spec"], pod.get("status") or {}
    containers = spec.get("containers") or []
    inits = spec.get("initContainers") or []
    st = state
    if st.scheduled_at is None:
        st = dataclasses.replace(st, scheduled_at=now)
    sched = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    scheduled_cond = {**(sched or condition("PodScheduled", True, rfc3339(st.scheduled_at))), "lastProbeTime": None}
    start_ts = rfc3339(st.scheduled_at)
    base = {"hostIP": host_ip, "startTime": start_ts, "phase": "Pending"}
    names = ",".join(c["name"] for c in containers)
    logs: list = []

    def pending(container_statuses, init_statuses=None) -> dict:
        desired = {**base, "conditions": [condition("Initialized", not inits, start_ts),
                                          *readiness(False, start_ts, names), scheduled_cond],
                   "containerStatuses": container_statuses}
        if init_statuses is not None:
            desired["initContainerStatuses"] = init_statuses
        return desired

    # 1. ContainerCreating for start_delay seconds.
    if st.running_since is None and knobs.start_delay and now - st.scheduled_at < knobs.start_delay:
        return Step(pending([_waiting(c, "ContainerCreating") for c in containers]),
                    knobs.start_delay - (now - st.scheduled_at), st)

    # 2. Image pulls.
    if st.running_since is None:
        missing = {c["name"] for c in inits + containers if not knobs.image_exists(c.get("image", ""))}
        if missing:
            if st.pull_failed_since is None:
                st = dataclasses.replace(st, pull_failed_since=now)
            failed_for = now - st.pull_failed_since
            backoff = failed_for >= knobs.pull_backoff_after

            def pull_status(c):
                if c["name"] not in missing:
                    return _waiting(c, "PodInitializing" if inits else "ContainerCreating")
                if backoff:
                    return _waiting(c, "ImagePullBackOff", f'Back-off pulling image "{c.get("image")}"')
                return _waiting(c, "ErrImagePull", f'rpc error: code = NotFound desc = failed to pull and unpack '
                                                   f'image "{c.get("image")}": not found')
            desired = pending([pull_status(c) for c in containers],
                              [pull_status(c) for c in inits] if inits else None)
            return Step(desired, knobs.pull_retry if backoff else knobs.pull_backoff_after - failed_for, st)
        st = dataclasses.replace(st, pull_failed_since=None, running_since=now, ip=alloc_ip())
        ts_ns = int(now * 1e9)
        for c in containers:
            for text in (f"started with image {c.get('image', '')}", "configuration loaded", "ready to serve"):
                logs.append(LogLine(c["name"], text, ts_ns))

    run_ts = rfc3339(st.running_since)
    requeue = None
    ready_at = st.running_since + (knobs.ready_delay or 0)
    ready = now >= ready_at
    if not ready:
        requeue = ready_at - now

    # 3. Jobs' pods finish per the rule.
    outcome = None
    if is_job_pod(pod):
        since = st.last_restart or st.running_since
        if now - since >= knobs.job_duration:
            outcome = knobs.job_rule(pod)
            if outcome is None:
                requeue = min(requeue or 1.0, 1.0)
        else:
            requeue = min(requeue or 1e9, knobs.job_duration - (now - since))

    init_statuses = [{"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", ""),
                      "imageID": image_id(c), "containerID": container_id(st.uid, c), "started": False,
                      "lastState": {},
                      "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": run_ts,
                                               "finishedAt": run_ts, "containerID": container_id(st.uid, c)}}}
                     for c in inits]

    if outcome == "Failed" and spec.get("restartPolicy") == "OnFailure":
        # The kubelet restarts the containers in place; the Job controller counts restarts.
        st = dataclasses.replace(st, restarts=st.restarts + 1, last_restart=now)
        ts_ns = int(now * 1e9)
        for c in containers:
            logs += [LogLine(c["name"], "exited with code 1", ts_ns), Restart(c["name"]),
                     LogLine(c["name"], f"started with image {c.get('image', '')}", ts_ns)]
        outcome = None
        requeue = knobs.job_duration

    if outcome in TERMINAL_PHASES:
        code = 0 if outcome == "Succeeded" else 1
        if st.finished_at is None:
            st = dataclasses.replace(st, finished_at=now)
            logs += [LogLine(c["name"], f"exited with code {code}", int(now * 1e9)) for c in containers]
        fin = rfc3339(st.finished_at)
        desired = {
            "phase": outcome, "hostIP": host_ip, "podIP": st.ip, "podIPs": [{"ip": st.ip}], "startTime": start_ts,
            "conditions": [
                condition("Initialized", True, start_ts, "PodCompleted"),
                condition("Ready", False, fin, "PodCompleted"),
                condition("ContainersReady", False, fin, "PodCompleted"),
                scheduled_cond],
            "containerStatuses": [{
                "name": c["name"], "ready": False, "restartCount": st.restarts, "image": c.get("image", ""),
                "imageID": image_id(c), "containerID": container_id(st.uid, c, st.restarts), "started": False,
                "lastState": {},
                "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "startedAt": rfc3339(st.last_restart or st.running_since),
                                         "finishedAt": fin, "containerID": container_id(st.uid, c, st.restarts)}},
            } for c in containers],
        }
        if inits:
            desired["initContainerStatuses"] = init_statuses
        return Step(desired, None, st, tuple(logs))

    crashed = st.restarts > 0 and st.last_restart is not None

    def running(c):
        s = {"name": c["name"], "ready": ready, "restartCount": st.restarts, "image": c.get("image", ""),
             "imageID": image_id(c), "containerID": container_id(st.uid, c, st.restarts), "started": True,
             "lastState": {},
             "state": {"running": {"startedAt": rfc3339(st.last_restart or st.running_since)}}}
        if crashed:
            s["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": run_ts,
                                             "finishedAt": rfc3339(st.last_restart),
                                             "containerID": container_id(st.uid, c, st.restarts - 1)}}
        return s

    ready_ts = rfc3339(ready_at if ready else st.running_since)
    desired = {
        "phase": "Running", "hostIP": host_ip, "podIP": st.ip, "podIPs": [{"ip": st.ip}], "startTime": start_ts,
        "conditions": [condition("Initialized", True, start_ts), *readiness(ready, ready_ts, names), scheduled_cond],
        "containerStatuses": [running(c) for c in containers],
    }
    if inits:
        desired["initContainerStatuses"] = init_statuses
    return Step(desired, requeue, st, tuple(logs))
