"""Views: the slim, immutable records the watch-fed cache keeps of each object (never
client objects, never the whole JSON), and the functions that make them from the API's
JSON (`view_of_<kind>`). Slots only and interned strings, to keep a worker's memory small
with tens of thousands of pods.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

from portal.adapters.kube.errors import MESSAGE_LIMIT
from portal.adapters.kube.labels import (
    APP_LABEL,
    HPA_CONDITIONS,
    METRICS_SINCE_ANNOTATION,
    POD_TEMPLATE_HASH,
    REVISION_ANNOTATION,
    STOP_ANNOTATION,
)
from portal.adapters.kube.objects import app_container, template_fingerprint
from portal.adapters.kube.storage import claims_of

__all__ = ["AppView", "PodView", "ReplicaSetView", "ServiceView", "HpaView", "EventView", "parse_time",
           "view_of_deployment", "view_of_pod", "view_of_replicaset", "view_of_service", "view_of_hpa",
           "view_of_event"]


def _intern(value: str | None) -> str:
    return sys.intern(value) if value else ""


def _created(meta: dict) -> str:
    return meta.get("creationTimestamp") or ""


def _rv(meta: dict) -> int:
    try:
        return int(meta.get("resourceVersion") or 0)
    except ValueError:
        return 0


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


@dataclass(slots=True, frozen=True)
class AppView:
    """What the app pages show of a Deployment."""

    namespace: str
    name: str
    uid: str
    rv: int
    image: str
    desired: int
    ready: int
    updated: int
    available: int
    generation: int
    observed: int
    created: str
    revision: int
    stalled: str          # the Progressing condition's message when the rollout stalled
    stopped_from: int     # replicas before "stop" (annotation), 0 when running
    template_hash: str = ""  # the pod template's fingerprint: the image form's token
    claims: tuple[str, ...] = ()  # the PersistentVolumeClaims its pods mount
    metrics_since: str = ""  # where its charts start: METRICS_SINCE_ANNOTATION, else its creation

    @property
    def rolling(self) -> bool:
        return (self.observed < self.generation or self.updated < self.desired
                or self.ready < self.desired or self.available < self.desired)

    @property
    def status(self) -> str:
        if self.stalled:
            return "stalled"
        if self.desired == 0:
            return "stopped"
        if self.observed < self.generation or self.updated < self.desired:
            return "updating"
        if self.ready < self.desired:
            return "starting"
        return "running"


def view_of_deployment(obj: dict) -> AppView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    template = spec.get("template") or {}
    container = app_container(template, meta.get("name", ""))
    stalled = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            stalled = cond.get("message") or "The rollout stalled."
    annotations = meta.get("annotations") or {}
    try:
        stopped_from = int(annotations.get(STOP_ANNOTATION, "0"))
    except ValueError:
        stopped_from = 0
    return AppView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""), uid=meta.get("uid", ""),
        rv=_rv(meta), image=_intern(container.get("image")),
        desired=spec.get("replicas", 1) if spec.get("replicas") is not None else 1,
        ready=status.get("readyReplicas") or 0, updated=status.get("updatedReplicas") or 0,
        available=status.get("availableReplicas") or 0, generation=meta.get("generation") or 0,
        observed=status.get("observedGeneration") or 0, created=_created(meta),
        revision=int(annotations.get(REVISION_ANNOTATION, "0") or 0),
        stalled=stalled, stopped_from=stopped_from, template_hash=template_fingerprint(template),
        claims=claims_of(template), metrics_since=annotations.get(METRICS_SINCE_ANNOTATION) or _created(meta))


@dataclass(slots=True, frozen=True)
class PodView:
    namespace: str
    name: str
    app: str
    rv: int
    phase: str
    ready: bool
    restarts: int
    node: str
    ip: str
    created: str
    reason: str           # a waiting container's reason (ErrImagePull, ...), or ""
    revision_hash: str    # pod-template-hash: which ReplicaSet it belongs to
    deleting: bool


def view_of_pod(obj: dict) -> PodView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    labels = meta.get("labels") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    restarts, reason = 0, ""
    for cs in status.get("containerStatuses") or []:
        restarts += cs.get("restartCount") or 0
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and not reason:
            reason = waiting.get("reason") or ""
    return PodView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern(labels.get(APP_LABEL)), rv=_rv(meta), phase=_intern(status.get("phase") or "Pending"),
        ready=ready, restarts=restarts, node=_intern(spec.get("nodeName")), ip=status.get("podIP") or "",
        created=_created(meta), reason=_intern(reason),
        revision_hash=_intern(labels.get(POD_TEMPLATE_HASH)),
        deleting=bool(meta.get("deletionTimestamp")))


@dataclass(slots=True, frozen=True)
class ReplicaSetView:
    namespace: str
    name: str
    app: str
    rv: int
    revision: int
    image: str
    replicas: int
    ready: int
    created: str
    owner_uid: str
    template_hash: str


def view_of_replicaset(obj: dict) -> ReplicaSetView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    labels = meta.get("labels") or {}
    container = app_container(spec.get("template") or {}, labels.get(APP_LABEL, ""))
    owner = next((o.get("uid", "") for o in meta.get("ownerReferences") or []
                  if o.get("kind") == "Deployment"), "")
    return ReplicaSetView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern(labels.get(APP_LABEL)), rv=_rv(meta),
        revision=int((meta.get("annotations") or {}).get(REVISION_ANNOTATION, "0") or 0),
        image=_intern(container.get("image")), replicas=spec.get("replicas") or 0,
        ready=status.get("readyReplicas") or 0, created=_created(meta), owner_uid=owner,
        template_hash=labels.get(POD_TEMPLATE_HASH, ""))


@dataclass(slots=True, frozen=True)
class ServiceView:
    namespace: str
    name: str
    app: str
    rv: int
    type: str
    cluster_ip: str
    ports: tuple        # (name, protocol, port, node_port or 0)
    affinity: str


def view_of_service(obj: dict) -> ServiceView:
    meta, spec = obj.get("metadata", {}), obj.get("spec", {})
    ports = tuple((p.get("name", ""), p.get("protocol", "TCP"), p.get("port"), p.get("nodePort") or 0)
                  for p in spec.get("ports") or [])
    return ServiceView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern((meta.get("labels") or {}).get(APP_LABEL)), rv=_rv(meta),
        type=spec.get("type", "ClusterIP"), cluster_ip=spec.get("clusterIP", ""), ports=ports,
        affinity=spec.get("sessionAffinity", "None"))


@dataclass(slots=True, frozen=True)
class HpaView:
    namespace: str
    name: str
    app: str
    rv: int
    min: int
    max: int
    target: int
    current_replicas: int
    current_cpu: int | None
    desired_replicas: int = 0
    conditions: tuple = ()  # (type, status, reason, message) as the HPA controller reports them

    @property
    def active(self) -> bool:
        """False when the controller says it cannot scale (no metrics, say)."""
        return not any(t in ("ScalingActive", "AbleToScale") and s == "False"
                       for t, s, _, _ in self.conditions)


def _hpa_conditions(meta: dict) -> tuple:
    try:
        raw = json.loads((meta.get("annotations") or {}).get(HPA_CONDITIONS) or "[]")
    except ValueError:
        return ()
    if not isinstance(raw, list):
        return ()
    return tuple((str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")),
                  str(c.get("message", ""))[:MESSAGE_LIMIT]) for c in raw if isinstance(c, dict))


def view_of_hpa(obj: dict) -> HpaView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    return HpaView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern((meta.get("labels") or {}).get(APP_LABEL)), rv=_rv(meta),
        min=spec.get("minReplicas") or 1, max=spec.get("maxReplicas") or 1,
        target=spec.get("targetCPUUtilizationPercentage") or 0,
        current_replicas=status.get("currentReplicas") or 0,
        current_cpu=status.get("currentCPUUtilizationPercentage"),
        desired_replicas=status.get("desiredReplicas") or 0, conditions=_hpa_conditions(meta))


# The kinds of object an app is made of: the events cache keeps the Events about these only.
APP_OBJECT_KINDS = frozenset({"Deployment", "ReplicaSet", "Pod", "Service", "HorizontalPodAutoscaler"})


@dataclass(slots=True, frozen=True)
class EventView:
    """An Event about one of an app's objects (its Deployment, ReplicaSets, pods, ...)."""

    namespace: str
    name: str
    rv: int
    kind: str             # the involved object's kind and name
    object: str
    at: str               # lastTimestamp, else eventTime, else creationTimestamp
    type: str
    reason: str
    message: str
    count: int


def view_of_event(obj: dict) -> EventView | None:
    """None for an Event that is not about an app's objects (nodes, kube-* namespaces)."""
    meta, involved = obj.get("metadata", {}), obj.get("involvedObject") or {}
    namespace = meta.get("namespace") or ""
    if involved.get("kind") not in APP_OBJECT_KINDS or not namespace or namespace.startswith("kube-"):
        return None
    return EventView(
        namespace=_intern(namespace), name=meta.get("name", ""), rv=_rv(meta),
        kind=_intern(involved.get("kind")), object=involved.get("name") or "",
        at=obj.get("lastTimestamp") or obj.get("eventTime") or _created(meta),
        type=_intern(obj.get("type")), reason=_intern(obj.get("reason")),
        message=obj.get("message") or "", count=obj.get("count") or 1)
