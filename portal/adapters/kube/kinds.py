"""The table of every kind of object Hummer touches, and the API paths built from it.

Each entry names the kind's API group prefix, its plural and its `kind`; the kinds the
watch-fed cache keeps (see informer.py) also name their view function (views.py), the
label selector they are listed with, how the cache groups them (and the list query that
selects one group on the server), and a size bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote

from portal.adapters.kube import views
from portal.adapters.kube.labels import APP_LABEL

__all__ = ["Kind", "KINDS", "CACHED", "path", "plural_of"]


def _by_app(view) -> tuple[str, str]:
    return view.namespace, view.app


def _by_name(view) -> tuple[str, str]:
    return view.namespace, view.name


def _by_object(view) -> tuple[str, str]:
    return view.namespace, view.object


# What selects one group's objects in a list call (the cache's group, asked of the server).
def _app_query(key: str) -> dict:
    return {"labelSelector": f"{APP_LABEL}={key}"}


def _name_query(key: str) -> dict:
    return {"fieldSelector": f"metadata.name={key}"}


def _object_query(key: str) -> dict:
    return {"fieldSelector": f"involvedObject.name={key}"}


@dataclass(frozen=True)
class Kind:
    prefix: str                       # /api/v1 or /apis/<group>/<version>
    plural: str
    kind: str                         # as in an object's "kind"
    namespaced: bool = True
    view: Callable | None = None      # cached kinds: JSON -> view (None: not kept)
    selector: str = APP_LABEL         # cached kinds: what the cache lists and watches
    group: Callable = _by_app         # cached kinds: (namespace, key) of a view's group
    group_query: Callable = _app_query  # cached kinds: the list query of one group's objects
    bound: int = 0                    # cached kinds: at most this many objects (0: no bound)


KINDS: dict[str, Kind] = {
    "namespaces": Kind("/api/v1", "namespaces", "Namespace", namespaced=False),
    "nodes": Kind("/api/v1", "nodes", "Node", namespaced=False),
    "resourcequotas": Kind("/api/v1", "resourcequotas", "ResourceQuota"),
    "limitranges": Kind("/api/v1", "limitranges", "LimitRange"),
    "secrets": Kind("/api/v1", "secrets", "Secret"),
    "persistentvolumeclaims": Kind("/api/v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    "persistentvolumes": Kind("/api/v1", "persistentvolumes", "PersistentVolume", namespaced=False),
    "storageclasses": Kind("/apis/storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False),
    "pods": Kind("/api/v1", "pods", "Pod", view=views.view_of_pod),
    "services": Kind("/api/v1", "services", "Service", view=views.view_of_service),
    # Events carry no labels: the cache takes every Event and keeps those about an app's
    # objects (views.view_of_event), at most `bound` of them (the oldest go first).
    "events": Kind("/api/v1", "events", "Event", view=views.view_of_event, selector="",
                   group=_by_object, group_query=_object_query, bound=20_000),
    "deployments": Kind("/apis/apps/v1", "deployments", "Deployment", view=views.view_of_deployment,
                        group=_by_name, group_query=_name_query),
    "replicasets": Kind("/apis/apps/v1", "replicasets", "ReplicaSet", view=views.view_of_replicaset),
    "jobs": Kind("/apis/batch/v1", "jobs", "Job"),  # in-cluster builds (services/builds/incluster.py)
    "horizontalpodautoscalers": Kind("/apis/autoscaling/v1", "horizontalpodautoscalers",
                                     "HorizontalPodAutoscaler", view=views.view_of_hpa),
}
# The kinds the cache keeps, in the order a fresh worker starts filling them.
CACHED = ("deployments", "replicasets", "pods", "services", "horizontalpodautoscalers", "events")
_PLURALS = {k.kind: plural for plural, k in KINDS.items()}


def plural_of(obj: dict) -> str:
    """The table's key for an object: {"kind": "Service", ...} -> "services"."""
    return _PLURALS[obj["kind"]]


def path(kind: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    entry = KINDS[kind]
    parts = [entry.prefix]
    if namespace and entry.namespaced:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(entry.plural)
    if name:
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)
