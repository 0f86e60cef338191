"""The Events a kubelet records (Pulled, Created, Started, Failed, BackOff),
and their poster, rate-limited like a kubelet's --event-qps."""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from .podstate import rfc3339
from .rest import ApiError, Rest

log = logging.getLogger("hummer.kubelet_sim")

EVENT_QUEUE = 1000


class PodEvent(NamedTuple):
    reason: str
    type: str
    field_path: str
    once: tuple      # recorded once per pod: (container, reason[, restartCount])
    message: str


def pod_events(pod: dict, status: dict) -> list[PodEvent]:
    """The Events a kubelet records for the container states in ``status`` (pure)."""
    spec = pod["spec"]
    images = {c["name"]: c.get("image", "") for c in (spec.get("initContainers") or []) + spec["containers"]}
    inits = {c["name"] for c in spec.get("initContainers") or []}
    todo = []
    for cs in (status.get("initContainerStatuses") or []) + status.get("containerStatuses", []):
        name, state, n = cs["name"], cs["state"], cs.get("restartCount", 0)
        image = images.get(name, "")
        field = f"spec.{'initContainers' if name in inits else 'containers'}{{{name}}}"
        reason = (state.get("waiting") or {}).get("reason")
        if reason == "ErrImagePull":
            todo.append(PodEvent("Failed", "Warning", field, (name, "ErrImagePull"),
                                 f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
                                 f'and unpack image "{image}": not found'))
        elif reason == "ImagePullBackOff":
            todo.append(PodEvent("BackOff", "Normal", field, (name, "BackOff"), f'Back-off pulling image "{image}"'))
        elif "running" in state or ("terminated" in state and name in inits):
            todo += [PodEvent("Pulled", "Normal", field, (name, "Pulled", n),
                              f'Container image "{image}" already present on machine'),
                     PodEvent("Created", "Normal", field, (name, "Created", n), f"Created container {name}"),
                     PodEvent("Started", "Normal", field, (name, "Started", n), f"Started container {name}")]
    return todo


def event_object(pod: dict, ev: PodEvent, now: float, unique: int) -> dict:
    meta, node = pod["metadata"], pod["spec"]["nodeName"]
    ts = rfc3339(now)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{unique:x}", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta["uid"], "fieldPath": ev.field_path},
        "reason": ev.reason, "message": ev.message, "type": ev.type, "count": 1,
        "firstTimestamp": ts, "lastTimestamp": ts,
        "source": {"component": "kubelet", "host": node},
        "reportingComponent": "kubelet", "reportingInstance": node,
    }


class EventPoster:
    """Queues Events and posts them at ``rate()`` = (qps, burst) (a token bucket;
    qps 0 or None: no limit); at most EVENT_QUEUE wait, newer ones are dropped."""

    def __init__(self, rest: Rest, stopping: threading.Event, stats: dict,
                 rate: Callable[[], tuple[float | None, int]]):
        self.rest, self.stopping, self.stats, self.rate = rest, stopping, stats, rate
        self._events: deque = deque()
        self._seq = itertools.count()
        self._cond = threading.Condition()

    def record(self, pod: dict, seen: set, status: dict) -> None:
        """Queue the Events for ``status`` that ``seen`` (the pod's, updated) lacks."""
        now = time.time()
        for ev in pod_events(pod, status):
            if ev.once in seen:
                continue
            seen.add(ev.once)
            event = event_object(pod, ev, now, time.time_ns() + next(self._seq))
            with self._cond:
                if len(self._events) >= EVENT_QUEUE:
                    self.stats["events_dropped"] += 1
                    continue
                self._events.append(event)
                self._cond.notify()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def run(self) -> None:
        qps, burst = self.rate()
        tokens, last = float(burst), time.monotonic()
        while not self.stopping.is_set():
            with self._cond:
                while not self._events and not self.stopping.is_set():
                    self._cond.wait(0.5)
                if self.stopping.is_set():
                    return
                event = self._events.popleft()
            qps, burst = self.rate()
            qps = qps or 0
            if qps > 0:
                now = time.monotonic()
                tokens = min(float(burst), tokens + (now - last) * qps)
                last = now
                if tokens < 1:
                    if self.stopping.wait((1 - tokens) / qps):
                        return
                    tokens, last = 1.0, time.monotonic()
                tokens -= 1
            ns = event["metadata"]["namespace"]
            try:
                self.rest.request("POST", f"/api/v1/namespaces/{ns}/events", event, timeout=10)
                self.stats["events"] += 1
            except ApiError as e:
                if e.status not in (403, 404, 409):  # a namespace being deleted refuses new events
                    log.debug("event %s: %s", event["reason"], e)
            except Exception:
                if not self.stopping.is_set():
                    log.debug("event %s failed", event["reason"], exc_info=True)
