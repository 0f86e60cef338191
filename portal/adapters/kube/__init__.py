"""The Kubernetes API: the only package that imports `kubernetes`. Nothing here knows Flask.

    from portal.adapters import kube
    k = kube.connect("/path/to/kubeconfig")     # one client per process and kubeconfig
    k.create("deployments", "shop", body)        # raw JSON dicts in and out
    k.apps("shop")                               # views, from the watch-fed cache

Modules: errors.py (the adapter's own error types), labels.py (the label and annotation
names), kinds.py (the table of every kind Hummer touches, and API paths), objects.py
(domain -> Kubernetes objects, and back), views.py (the slim records the cache keeps),
informer.py (the watch-fed cache of one kind), client.py (Kube: requests, verbs, cached
reads; connect()). Services use what this module exports, nothing deeper.
"""
from portal.adapters.kube import objects
from portal.adapters.kube.client import (
    RETRY,
    TIMEOUT,
    Kube,
    close_all,
    connect,
    connect_content,
    parse_kubeconfig,
    server_of,
)
from portal.adapters.kube.errors import (
                                         MESSAGE_LIMIT,
                                         Conflict,
                                         Forbidden,
                                         Invalid,
                                         KubeError,
                                         NotConfigured,
                                         NotFound,
                                         Unavailable,
)
from portal.adapters.kube.informer import Informer
from portal.adapters.kube.kinds import CACHED, KINDS, path, plural_of
from portal.adapters.kube.labels import (
                                         APP_LABEL,
                                         BUILD_LABEL,
                                         FIELD_MANAGER,
                                         HPA_CONDITIONS,
                                         MANAGED,
                                         NAME_LABEL,
                                         PLAN_ANNOTATION,
                                         POD_TEMPLATE_HASH,
                                         PROJECT_LABEL,
                                         PULL_SECRET_ANNOTATION,
                                         RESTART_ANNOTATION,
                                         REVISION_ANNOTATION,
                                         STOP_ANNOTATION,
)
from portal.adapters.kube.views import (
                                         AppView,
                                         EventView,
                                         HpaView,
                                         PodView,
                                         ReplicaSetView,
                                         ServiceView,
                                         parse_time,
                                         view_of_deployment,
                                         view_of_event,
                                         view_of_hpa,
                                         view_of_pod,
                                         view_of_replicaset,
                                         view_of_service,
)

__all__ = [
    "Kube", "close_all", "connect", "connect_content", "parse_kubeconfig", "server_of", "RETRY", "TIMEOUT",
    "KubeError", "NotConfigured", "Unavailable", "NotFound", "Conflict", "Invalid", "Forbidden", "MESSAGE_LIMIT",
    "Informer", "KINDS", "CACHED", "path", "plural_of", "objects",
    "APP_LABEL", "BUILD_LABEL", "PROJECT_LABEL", "MANAGED", "STOP_ANNOTATION", "PLAN_ANNOTATION", "RESTART_ANNOTATION",
    "HPA_CONDITIONS", "FIELD_MANAGER", "NAME_LABEL", "POD_TEMPLATE_HASH", "REVISION_ANNOTATION",
    "PULL_SECRET_ANNOTATION",
    "AppView", "PodView", "ReplicaSetView", "ServiceView", "HpaView", "EventView", "parse_time",
    "view_of_deployment", "view_of_pod", "view_of_replicaset", "view_of_service", "view_of_hpa", "view_of_event",
]
