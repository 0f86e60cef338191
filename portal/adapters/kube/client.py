"""The client: one cluster, reached through one kubeconfig, with its watch-fed cache.

    kube = connect("/path/to/kubeconfig")            # one per process and kubeconfig
    kube.create("deployments", "shop", body)          # raw JSON dicts in and out
    kube.apps("shop")                                 # from the watch-fed cache

Retries are urllib3's (`RETRY`): a request is retried (3 attempts in all) when the
connection could not be made (nothing was sent, any method), when a GET failed to read
its answer, and when a GET was answered 5xx or 429 (honouring Retry-After). Writes are
not retried once sent, and 409 and 422 never are: those are answers.

Objects travel as plain JSON dicts (the API's own camelCase form), so that "Show
YAML" prints exactly the body that is sent. The builders live in objects.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Any, Iterator
from urllib.parse import urlencode

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines
from urllib3.util.retry import Retry

from portal.adapters.kube.errors import Conflict, NotConfigured, NotFound, Unavailable, error_from, short_reason
from portal.adapters.kube.informer import Informer
from portal.adapters.kube.kinds import CACHED, path
from portal.adapters.kube.labels import FIELD_MANAGER
from portal.adapters.kube.views import AppView, EventView, HpaView, PodView, ReplicaSetView, ServiceView

__all__ = ["Kube", "connect", "connect_content", "parse_kubeconfig", "server_of", "RETRY", "TIMEOUT"]

TIMEOUT = (3, 20)          # connect, read (seconds) for ordinary calls
RETRY = Retry(total=2, connect=2, read=2, status=2, other=0, redirect=0, backoff_factor=0.1,
              status_forcelist=(429, 500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
              respect_retry_after_header=True, retry_after_max=5,
              raise_on_status=False, raise_on_redirect=False)


# --------------------------------------------------------------------------- the client

class Kube:
    """One cluster, reached through one kubeconfig. Thread-safe."""

    def __init__(self, kubeconfig: str | dict, label: str = ""):
        """kubeconfig: a file's path, or the parsed content of one (label names it in errors)."""
        self.kubeconfig = label or kubeconfig
        cfg = Configuration()
        try:
            if isinstance(kubeconfig, dict):
                kube_config.load_kube_config_from_dict(kubeconfig, client_configuration=cfg,
                                                       persist_config=False)
            else:
                kube_config.load_kube_config(config_file=kubeconfig, client_configuration=cfg,
                                             persist_config=False)
        except Exception as exc:
            raise NotConfigured(f"Cannot read the kubeconfig {label or kubeconfig}: {exc}") from exc
        cfg.retries = RETRY          # urllib3's, for every request of this client's pool
        cfg.connection_pool_maxsize = 32
        self.cfg = cfg
        self.api = ApiClient(cfg)
        self.informers = {kind: Informer(self, kind) for kind in CACHED}

    # raw requests ------------------------------------------------------------
    def _headers(self, content_type: str | None) -> dict:
        headers = {"Accept": "application/json", "User-Agent": "hummer-portal"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.cfg.refresh_api_key_hook is not None:
            self.cfg.refresh_api_key_hook(self.cfg)
        self.api.update_params_for_auth(headers, [], ["BearerToken"], "", "GET", None)
        return headers

    def request(self, method: str, url_path: str, query: dict | None = None, body: Any = None,
                content_type: str | None = None, timeout=TIMEOUT, stream: bool = False,
                raw: bool = False):
        """One API call with retries; returns the decoded JSON (or the open response
        when stream=True, or the text when raw=True). Raises a KubeError."""
        url = self.cfg.host + url_path + ("?" + urlencode(query) if query else "")
        if body is not None and content_type is None:
            content_type = "application/json"
        try:
            resp = self.api.rest_client.request(method, url, headers=self._headers(content_type),
                                                body=body, _request_timeout=timeout).response
        except (urllib3.exceptions.HTTPError, OSError, ApiException) as exc:
            raise Unavailable(f"The Kubernetes API server at {self.cfg.host} is not reachable "
                              f"({short_reason(exc)}).") from exc
        if resp.status < 300:
            if stream:
                return resp
            data = resp.data
            resp.release_conn()
            if raw:
                return data.decode("utf-8", errors="replace")
            return json.loads(data) if data else {}
        data = resp.data
        resp.release_conn()
        exc = ApiException(status=resp.status, reason=resp.reason,
                           body=data.decode("utf-8", errors="replace"))
        exc.headers = resp.headers
        raise error_from(exc) from exc

    # verbs ---------------------------------------------------------------------
    def get(self, kind: str, namespace: str | None, name: str) -> dict:
        return self.request("GET", path(kind, namespace, name))

    def list(self, kind: str, namespace: str | None = None, labels: str | None = None,
             fields: str | None = None, limit: int | None = None) -> list[dict]:
        query = {k: v for k, v in (("labelSelector", labels), ("fieldSelector", fields),
                                   ("limit", limit)) if v}
        return self.request("GET", path(kind, namespace), query=query).get("items") or []

    def create(self, kind: str, namespace: str | None, body: dict, dry_run: bool = False,
               exist_ok: bool = False, manager: str | None = None) -> dict:
        """POST the object; with exist_ok a 409 counts as success (returns {} then)."""
        query = {"dryRun": "All"} if dry_run else {}
        if manager:
            query["fieldManager"] = manager
        try:
            result = self.request("POST", path(kind, namespace), body=body, query=query or None)
        except Conflict:
            if exist_ok:
                return {}
            raise
        if not dry_run:
            self._applied(kind, result)
        return result

    def replace(self, kind: str, namespace: str, name: str, body: dict, manager: str | None = None) -> dict:
        """PUT: with metadata.resourceVersion set, a concurrent change gives Conflict."""
        result = self.request("PUT", path(kind, namespace, name), body=body,
                              query={"fieldManager": manager} if manager else None)
        self._applied(kind, result)
        return result

    def apply(self, kind: str, namespace: str, name: str, body: dict,
              manager: str = FIELD_MANAGER, force: bool = True) -> dict:
        """Server-side apply (PATCH application/apply-patch+yaml; JSON is YAML): `body`
        states every field `manager` owns. Fields it owned before and leaves out are
        removed; fields other managers own (a sidecar, a nodeSelector added with kubectl)
        stay. With force, fields it sets are taken over from other managers. Creates the
        object when it does not exist. With metadata.resourceVersion in the body, a
        concurrent change gives Conflict."""
        result = self.request("PATCH", path(kind, namespace, name), body=json.dumps(body),
                              content_type="application/apply-patch+yaml",
                              query={"fieldManager": manager, "force": "true" if force else "false"})
        self._applied(kind, result)
        return result

    def patch(self, kind: str, namespace: str, name: str, body, how: str = "merge") -> dict:
        content_type = {"merge": "application/merge-patch+json",
                        "strategic": "application/strategic-merge-patch+json",
                        "json": "application/json-patch+json"}[how]
        result = self.request("PATCH", path(kind, namespace, name), body=body, content_type=content_type)
        self._applied(kind, result)
        return result

    def delete(self, kind: str, namespace: str | None, name: str, missing_ok: bool = True,
               propagation: str = "Background") -> bool:
        """DELETE; a 404 counts as success when missing_ok. True when something was deleted.

        The cache forgets the object only when it is gone (deleted, or 404): after a 403,
        a 409 or a timeout it still exists, and the pages still show it."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", path(kind, namespace, name), body=body)
        except NotFound:
            self._forget(kind, namespace, name)
            if not missing_ok:
                raise
            return False
        self._forget(kind, namespace, name)
        return True

    def _applied(self, kind: str, obj: dict) -> None:
        informer = self.informers.get(kind)
        if informer is not None:
            informer.apply(obj)

    def _forget(self, kind: str, namespace: str | None, name: str) -> None:
        informer = self.informers.get(kind)
        if informer is not None and namespace:
            informer.forget(namespace, name)

    # logs ----------------------------------------------------------------------
    def log(self, namespace: str, pod: str, container: str | None = None, tail: int | None = None,
            timestamps: bool = False, limit_bytes: int | None = None) -> str:
        query = {k: v for k, v in (("container", container), ("tailLines", tail),
                                   ("timestamps", "true" if timestamps else None),
                                   ("limitBytes", limit_bytes)) if v}
        return self.request("GET", path("pods", namespace, pod, "log"), query=query, raw=True)

    def follow_log(self, namespace: str, pod: str, container: str | None = None, tail: int = 0,
                   timestamps: bool = False, max_seconds: int = 600):
        """An open log stream (follow=true); iterate with `lines(resp)`, then resp.release_conn()."""
        query = {"follow": "true", "tailLines": tail}
        if container:
            query["container"] = container
        if timestamps:
            query["timestamps"] = "true"
        return self.request("GET", path("pods", namespace, pod, "log"), query=query, stream=True,
                            timeout=(3, max_seconds))

    @staticmethod
    def lines(resp) -> Iterator[str]:
        return iter_resp_lines(resp)

    # reachability ----------------------------------------------------------------
    def version(self) -> dict:
        """The API server's /version (its gitVersion is shown on the dashboard's health card)."""
        return self.request("GET", "/version", timeout=(2, 5))

    def readyz(self, timeout=(2, 5)) -> str:
        """The API server's /readyz answer; a KubeError when it is not ready or not reachable."""
        return self.request("GET", "/readyz", timeout=timeout, raw=True)

    def node_readiness(self) -> tuple[int, int]:
        """(ready, total) nodes, in one short call: the Ready condition of each Node."""
        items = self.request("GET", path("nodes"), timeout=(2, 5)).get("items") or []
        ready = sum(1 for n in items if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (n.get("status") or {}).get("conditions") or []))
        return ready, len(items)

    def volume_claims(self, namespace: str) -> list[str]:
        """The names of the namespace's PersistentVolumeClaims (a direct list, not cached)."""
        return sorted(c["metadata"]["name"] for c in self.list("persistentvolumeclaims", namespace))

    # cached reads ----------------------------------------------------------------
    def start_caches(self) -> None:
        """Start filling every cache now (a worker calls this when it starts); returns at once."""
        for informer in self.informers.values():
            informer.start()

    def cache(self, kind: str, timeout: float = 30.0) -> Informer:
        informer = self.informers[kind]
        informer.ensure(timeout)
        return informer

    def watch_error(self, kind: str = "deployments") -> str:
        """Why the cache of `kind` lost its watch ("" while it is fine): its data may be old."""
        return self.informers[kind].error

    def apps(self, namespace: str) -> list[AppView]:
        return self.cache("deployments").in_namespace(namespace)

    # One app's objects: from the cache, or from the server while the cache fills
    # (Informer.group), so that a worker's first app page does not wait for every list.
    def app(self, namespace: str, name: str) -> AppView | None:
        found = self.informers["deployments"].group(namespace, name)
        return found[0] if found else None

    def pods(self, namespace: str, app: str) -> list[PodView]:
        return self.informers["pods"].group(namespace, app)

    def replicasets(self, namespace: str, app: str) -> list[ReplicaSetView]:
        return self.informers["replicasets"].group(namespace, app)

    def services(self, namespace: str, app: str) -> list[ServiceView]:
        return self.informers["services"].group(namespace, app)

    def hpas(self, namespace: str, app: str) -> list[HpaView]:
        return self.informers["horizontalpodautoscalers"].group(namespace, app)

    def all_hpas(self) -> list[HpaView] | None:
        """Every HPA of Hummer's apps, in every namespace, from the watch cache (no API call);
        None while the cache's first list is not in yet (its watch is started)."""
        informer = self.informers["horizontalpodautoscalers"]
        informer.start()
        if not informer.synced.is_set():
            return None
        with informer.lock:
            return list(informer.objects.values())

    def events(self, namespace: str, names: list[str]) -> list[EventView]:
        """The Events about the named objects of a namespace (an app's Deployment,
        ReplicaSets, pods...), newest first: from the cache, with no API call once it holds
        its list."""
        informer = self.informers["events"]
        found = [e for name in dict.fromkeys(names) for e in informer.group(namespace, name)]
        found.sort(key=lambda e: e.at, reverse=True)
        return found

    def forget_app(self, namespace: str, app: str) -> None:
        """Drop an app's ReplicaSets and pods from this process's cache (they go with a
        deleted Deployment; the watch would tell a moment later)."""
        for kind in ("replicasets", "pods"):
            informer = self.informers[kind]
            if informer.synced.is_set():
                informer.forget_group(namespace, app)

    def forget_namespace(self, namespace: str) -> None:
        for informer in self.informers.values():
            if informer.synced.is_set():
                informer.forget_namespace(namespace)

    # the end ---------------------------------------------------------------------
    def close(self) -> None:
        """Stop the watch threads and close the connection pool (a replaced kubeconfig)."""
        for informer in self.informers.values():
            informer.stop()
        self.api.close()


_clients: dict[tuple[int, str], Kube] = {}
_clients_lock = threading.Lock()


def connect(kubeconfig: str | None) -> Kube:
    """The process's client (and cache) for a kubeconfig, created on first use.

    Keyed by process id as well: a gunicorn worker forked from a preloaded master
    gets its own client and its own watch threads (threads do not survive fork)."""
    if not kubeconfig:
        raise NotConfigured("No cluster is configured (HUMMER_KUBECONFIG is empty).")
    key = (os.getpid(), kubeconfig)
    kube = _clients.get(key)
    if kube is None:
        with _clients_lock:
            kube = _clients.get(key)
            if kube is None:
                if not os.path.exists(kubeconfig):
                    raise NotConfigured(f"The kubeconfig {kubeconfig} does not exist.")
                kube = _clients[key] = Kube(kubeconfig)
    return kube


def connect_content(content: str, label: str = "the stored kubeconfig") -> Kube:
    """Like connect, for a kubeconfig held in memory (the one the portal stores encrypted).

    The client is keyed by a digest of the content, so a new kubeconfig gets a new client;
    the one it replaces (this process's previous stored kubeconfig) is closed, its watch
    threads stopped."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    pid = os.getpid()
    key = (pid, f"content:{digest}")
    kube = _clients.get(key)
    if kube is None:
        with _clients_lock:
            kube = _clients.get(key)
            if kube is None:
                data = parse_kubeconfig(content)
                kube = _clients[key] = Kube(data, label=label)
                replaced = [k for k in _clients if k[0] == pid and k[1].startswith("content:") and k != key]
                for old in replaced:
                    _clients.pop(old).close()
    return kube


def close_all() -> None:
    """Close every client of this process (their watch threads stop): a process that is
    done with the cluster, such as the test session before it stops its control plane."""
    with _clients_lock:
        for key in [k for k in _clients if k[0] == os.getpid()]:
            _clients.pop(key).close()


def parse_kubeconfig(content: str) -> dict:
    """The kubeconfig's YAML as a dict with a current context and a server; NotConfigured if not."""
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise NotConfigured(f"The kubeconfig is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not data.get("clusters") or not data.get("users"):
        raise NotConfigured("The kubeconfig has no clusters or no users.")
    return data


def server_of(content: str) -> str:
    """The API server address of the kubeconfig's current context (or its first cluster)."""
    data = parse_kubeconfig(content)
    clusters = {c.get("name"): (c.get("cluster") or {}) for c in data["clusters"] if isinstance(c, dict)}
    contexts = {c.get("name"): (c.get("context") or {}) for c in data.get("contexts") or []
                if isinstance(c, dict)}
    cluster = clusters.get(contexts.get(data.get("current-context"), {}).get("cluster"))
    cluster = cluster or next(iter(clusters.values()), {})
    server = cluster.get("server") if isinstance(cluster, dict) else None
    if not server:
        raise NotConfigured("The kubeconfig names no API server.")
    return str(server)
