"""The Kubernetes API: the only module that imports `kubernetes`. Nothing here knows Flask.

    kube = connect("/path/to/kubeconfig")            # one per process and kubeconfig
    kube.create("deployments", "shop", body)          # raw JSON dicts in and out
    kube.apps("shop")                                 # from the watch-fed cache

Errors: KubeError is the base (its `message` is trimmed and safe to show);
NotConfigured (no kubeconfig), Unavailable (connection errors, timeouts, 5xx, 429
after retries), NotFound (404), Conflict (409), Invalid (422, with `causes`),
Forbidden (403, e.g. a quota refusal). Each is raised `from` the ApiException (or
the connection error) behind it.

Retries: a request is retried (3 attempts in all) when the connection could not be
made (nothing was sent), when a GET failed for any network reason, and on 5xx or
429 (honouring Retry-After, up to 5 s). Never on 409 or 422: those are answers.

Objects travel as plain JSON dicts (the API's own camelCase form), so that "Show
YAML" prints exactly the body that is sent. The builders live in kube_objects.py.

The cache: one Informer per resource kind (Deployments, ReplicaSets, Pods, Services,
HorizontalPodAutoscalers) across all namespaces, limited to objects carrying the
`hummer.io/app` label. Each lists (in pages of 500), then watches from the list's
resourceVersion, and lists again on 410 Gone, in a daemon thread started on first
use. It keeps slim, immutable projections (see the *View classes), never client
objects. After a write, the caller's own process applies the API server's answer at
once (`Informer.apply`), so the user sees their change on the next page; other
processes converge within the watch latency.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from portal.adapters.kube_objects import FIELD_MANAGER, app_container, template_fingerprint

__all__ = [
    "KubeError", "NotConfigured", "Unavailable", "NotFound", "Conflict", "Invalid", "Forbidden",
    "Kube", "connect", "AppView", "PodView", "ReplicaSetView", "ServiceView", "HpaView",
    "APP_LABEL", "MANAGED_BY", "PROJECT_LABEL",
]

APP_LABEL = "hummer.io/app"
PROJECT_LABEL = "hummer.io/project"
MANAGED_BY = {"app.kubernetes.io/managed-by": "hummer"}
MESSAGE_LIMIT = 300
RETRY_ATTEMPTS = 3
TIMEOUT = (3, 20)          # connect, read (seconds) for ordinary calls
WATCH_SECONDS = 240        # the server ends each watch after this; we watch again


# --------------------------------------------------------------------------- errors

class KubeError(Exception):
    """Base class: `message` is short and safe to show to a user."""

    status: int | None = None

    def __init__(self, message: str, status: int | None = None, causes=()):
        message = " ".join(str(message).split())
        if len(message) > MESSAGE_LIMIT:
            message = message[:MESSAGE_LIMIT - 1] + "…"
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.causes: list[tuple[str, str]] = list(causes)  # (field path, message)


class NotConfigured(KubeError):
    pass


class Unavailable(KubeError):
    pass


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class Invalid(KubeError):
    status = 422


class Forbidden(KubeError):
    status = 403


def _error_from(exc: ApiException) -> KubeError:
    status = exc.status or 0
    message, causes = exc.reason or f"HTTP {status}", []
    try:
        body = json.loads(exc.body or "{}")
        message = body.get("message") or message
        for cause in (body.get("details") or {}).get("causes") or []:
            causes.append((cause.get("field", ""), cause.get("message", "")))
    except (ValueError, AttributeError):
        if exc.body:
            message = str(exc.body)
    kind = {404: NotFound, 409: Conflict, 422: Invalid, 403: Forbidden, 401: Forbidden}.get(status)
    if kind is None:
        kind = Unavailable if status == 0 or status >= 500 or status == 429 else KubeError
    return kind(message, status=status, causes=causes)


# --------------------------------------------------------------------------- projections

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


def project_deployment(obj: dict) -> AppView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    template = spec.get("template") or {}
    container = app_container(template, meta.get("name", ""))
    stalled = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            stalled = cond.get("message") or "The rollout stalled."
    annotations = meta.get("annotations") or {}
    try:
        stopped_from = int(annotations.get("hummer.io/replicas-before-stop", "0"))
    except ValueError:
        stopped_from = 0
    return AppView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""), uid=meta.get("uid", ""),
        rv=_rv(meta), image=_intern(container.get("image")),
        desired=spec.get("replicas", 1) if spec.get("replicas") is not None else 1,
        ready=status.get("readyReplicas") or 0, updated=status.get("updatedReplicas") or 0,
        available=status.get("availableReplicas") or 0, generation=meta.get("generation") or 0,
        observed=status.get("observedGeneration") or 0, created=_created(meta),
        revision=int(annotations.get("deployment.kubernetes.io/revision", "0") or 0),
        stalled=stalled, stopped_from=stopped_from, template_hash=template_fingerprint(template))


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


def project_pod(obj: dict) -> PodView:
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
        revision_hash=_intern(labels.get("pod-template-hash")),
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


def project_replicaset(obj: dict) -> ReplicaSetView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    labels = meta.get("labels") or {}
    container = app_container(spec.get("template") or {}, labels.get(APP_LABEL, ""))
    owner = next((o.get("uid", "") for o in meta.get("ownerReferences") or []
                  if o.get("kind") == "Deployment"), "")
    return ReplicaSetView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern(labels.get(APP_LABEL)), rv=_rv(meta),
        revision=int((meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0),
        image=_intern(container.get("image")), replicas=spec.get("replicas") or 0,
        ready=status.get("readyReplicas") or 0, created=_created(meta), owner_uid=owner,
        template_hash=labels.get("pod-template-hash", ""))


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


def project_service(obj: dict) -> ServiceView:
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


HPA_CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"  # where autoscaling/v1 keeps them


def _hpa_conditions(meta: dict) -> tuple:
    try:
        raw = json.loads((meta.get("annotations") or {}).get(HPA_CONDITIONS) or "[]")
    except ValueError:
        return ()
    if not isinstance(raw, list):
        return ()
    return tuple((str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason", "")),
                  str(c.get("message", ""))[:MESSAGE_LIMIT]) for c in raw if isinstance(c, dict))


def project_hpa(obj: dict) -> HpaView:
    meta, spec, status = obj.get("metadata", {}), obj.get("spec", {}), obj.get("status", {})
    return HpaView(
        namespace=_intern(meta.get("namespace")), name=meta.get("name", ""),
        app=_intern((meta.get("labels") or {}).get(APP_LABEL)), rv=_rv(meta),
        min=spec.get("minReplicas") or 1, max=spec.get("maxReplicas") or 1,
        target=spec.get("targetCPUUtilizationPercentage") or 0,
        current_replicas=status.get("currentReplicas") or 0,
        current_cpu=status.get("currentCPUUtilizationPercentage"),
        desired_replicas=status.get("desiredReplicas") or 0, conditions=_hpa_conditions(meta))


# kind -> (API prefix, plural, projection, namespaced app of an object)
KINDS: dict[str, tuple[str, str, Callable | None]] = {
    "namespaces": ("/api/v1", "namespaces", None),
    "resourcequotas": ("/api/v1", "resourcequotas", None),
    "limitranges": ("/api/v1", "limitranges", None),
    "pods": ("/api/v1", "pods", project_pod),
    "services": ("/api/v1", "services", project_service),
    "events": ("/api/v1", "events", None),
    "secrets": ("/api/v1", "secrets", None),
    "deployments": ("/apis/apps/v1", "deployments", project_deployment),
    "replicasets": ("/apis/apps/v1", "replicasets", project_replicaset),
    "horizontalpodautoscalers": ("/apis/autoscaling/v1", "horizontalpodautoscalers", project_hpa),
}
CACHED = ("deployments", "replicasets", "pods", "services", "horizontalpodautoscalers")


def path(kind: str, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    prefix, plural, _ = KINDS[kind]
    parts = [prefix]
    if namespace and kind != "namespaces":
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(plural)
    if name:
        parts.append(quote(name, safe=""))
    if sub:
        parts.append(sub)
    return "/".join(parts)


# --------------------------------------------------------------------------- the cache

class _Gone(Exception):
    """410: the resourceVersion we watch from was compacted away; list again."""


class Informer:
    """A watch-fed cache of one resource kind (see the module docstring)."""

    def __init__(self, kube: "Kube", kind: str, selector: str = APP_LABEL):
        self.kube, self.kind, self.selector = kube, kind, selector
        self.project = KINDS[kind][2]
        self.objects: dict[tuple[str, str], Any] = {}
        self.by_ns: dict[str, dict[str, Any]] = {}
        self.by_app: dict[tuple[str, str], dict[str, Any]] = {}
        self.rv = ""
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.tried = threading.Event()
        self.error = ""
        self.last_event = 0.0
        self.relists = 0
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # reading ----------------------------------------------------------------
    def ensure(self, timeout: float = 30.0) -> None:
        """Start the watch if needed; wait for the first list. Unavailable if it failed."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=f"hummer-watch-{self.kind}",
                                                    daemon=True)
                    self._thread.start()
        if self.synced.is_set():
            return
        self.tried.wait(timeout)
        if not self.synced.is_set():
            raise Unavailable(self.error or f"Listing {self.kind} took longer than {timeout:.0f} s.")

    def in_namespace(self, namespace: str) -> list:
        return list(self.by_ns.get(namespace, {}).values())

    def of_app(self, namespace: str, app: str) -> list:
        return list(self.by_app.get((namespace, app), {}).values())

    def get(self, namespace: str, name: str):
        return self.objects.get((namespace, name))

    # writing (from the watch, or from a write's response) ----------------------
    def _key_app(self, view) -> tuple[str, str]:
        app = getattr(view, "app", None)
        return view.namespace, app if app is not None else view.name

    def _put(self, view) -> None:
        key = (view.namespace, view.name)
        old = self.objects.get(key)
        if old is not None and old.rv > view.rv:
            return  # an older event than what we already have
        self.objects[key] = view
        self.by_ns.setdefault(view.namespace, {})[view.name] = view
        self.by_app.setdefault(self._key_app(view), {})[view.name] = view

    def _remove(self, namespace: str, name: str) -> None:
        old = self.objects.pop((namespace, name), None)
        if old is None:
            return
        ns_map = self.by_ns.get(namespace)
        if ns_map is not None:
            ns_map.pop(name, None)
            if not ns_map:
                del self.by_ns[namespace]
        app_key = self._key_app(old)
        app_map = self.by_app.get(app_key)
        if app_map is not None:
            app_map.pop(name, None)
            if not app_map:
                del self.by_app[app_key]

    def apply(self, obj: dict) -> None:
        """Apply an object the API server returned after a write (read-your-writes)."""
        if not self.synced.is_set() or not obj:
            return
        labels = obj.get("metadata", {}).get("labels") or {}
        if APP_LABEL not in labels:
            return
        with self.lock:
            self._put(self.project(obj))

    def forget(self, namespace: str, name: str) -> None:
        with self.lock:
            self._remove(namespace, name)

    def forget_namespace(self, namespace: str) -> None:
        with self.lock:
            for name in list(self.by_ns.get(namespace, {})):
                self._remove(namespace, name)

    # the thread ---------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                if not self.rv:
                    self._relist()
                self._watch()
                backoff = 0.5
            except _Gone:
                self.rv = ""
            except Exception as exc:  # keep the thread alive whatever happens
                self.error = exc.message if isinstance(exc, KubeError) else f"{type(exc).__name__}: {exc}"
                self.tried.set()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _relist(self) -> None:
        objects, by_ns, by_app = {}, {}, {}
        cont, rv = "", ""
        while True:
            query = {"labelSelector": self.selector, "limit": 500}
            if cont:
                query["continue"] = cont
            page = self.kube.request("GET", path(self.kind), query=query, timeout=(3, 60))
            for item in page.get("items") or []:
                view = self.project(item)
                objects[(view.namespace, view.name)] = view
                by_ns.setdefault(view.namespace, {})[view.name] = view
                by_app.setdefault(self._key_app(view), {})[view.name] = view
            meta = page.get("metadata") or {}
            rv = rv or meta.get("resourceVersion", "")
            cont = meta.get("continue") or ""
            if not cont:
                break
        with self.lock:
            self.objects, self.by_ns, self.by_app = objects, by_ns, by_app
            self.rv = rv
        self.relists += 1
        self.error = ""
        self.last_event = time.monotonic()
        self.synced.set()
        self.tried.set()

    def _watch(self) -> None:
        query = {"labelSelector": self.selector, "watch": "1", "resourceVersion": self.rv,
                 "allowWatchBookmarks": "true", "timeoutSeconds": WATCH_SECONDS}
        try:
            resp = self.kube.request("GET", path(self.kind), query=query, stream=True,
                                     timeout=(3, WATCH_SECONDS + 30))
        except KubeError as error:
            if error.status == 410:
                raise _Gone() from error
            raise
        self.error = ""
        try:
            for line in iter_resp_lines(resp):
                if not line:
                    continue
                event = json.loads(line)
                etype, obj = event.get("type"), event.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise KubeError(obj.get("message") or "watch error", status=obj.get("code"))
                meta = obj.get("metadata") or {}
                if etype == "BOOKMARK":
                    self.rv = meta.get("resourceVersion") or self.rv
                    continue
                with self.lock:
                    if etype == "DELETED":
                        self._remove(meta.get("namespace", ""), meta.get("name", ""))
                    else:
                        self._put(self.project(obj))
                self.rv = meta.get("resourceVersion") or self.rv
                self.last_event = time.monotonic()
        finally:
            resp.release_conn()


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
        cfg.retries = False          # our own retries, below
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
        for attempt in range(RETRY_ATTEMPTS):
            last = attempt == RETRY_ATTEMPTS - 1
            try:
                resp = self.api.rest_client.request(method, url, headers=self._headers(content_type),
                                                    body=body, _request_timeout=timeout).response
            except (urllib3.exceptions.HTTPError, OSError, ApiException) as exc:
                connect_phase = isinstance(exc, (urllib3.exceptions.NewConnectionError,
                                                 urllib3.exceptions.ConnectTimeoutError)) or (
                    isinstance(exc, urllib3.exceptions.MaxRetryError)
                    and isinstance(exc.reason, (urllib3.exceptions.NewConnectionError,
                                                urllib3.exceptions.ConnectTimeoutError)))
                if not last and (connect_phase or method == "GET"):
                    time.sleep(0.1 * 3 ** attempt)
                    continue
                raise Unavailable(f"The Kubernetes API server at {self.cfg.host} is not reachable "
                                  f"({_short(exc)}).") from exc
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
            if not last and (resp.status >= 500 or resp.status == 429):
                try:
                    wait = min(float(resp.headers.get("Retry-After", "")), 5.0)
                except ValueError:
                    wait = 0.2 * 3 ** attempt
                time.sleep(wait)
                continue
            raise _error_from(exc) from exc
        raise AssertionError("unreachable")

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
        """DELETE; a 404 counts as success when missing_ok. True when something was deleted."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", path(kind, namespace, name), body=body)
        except NotFound:
            if not missing_ok:
                raise
            return False
        finally:
            if kind in self.informers and namespace:
                self.informers[kind].forget(namespace, name)
        return True

    def _applied(self, kind: str, obj: dict) -> None:
        informer = self.informers.get(kind)
        if informer is not None:
            informer.apply(obj)

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
        return self.request("GET", "/version", timeout=(2, 5))

    def node_readiness(self) -> tuple[int, int]:
        """(ready, total) nodes, in one short call: the Ready condition of each Node."""
        items = self.request("GET", "/api/v1/nodes", timeout=(2, 5)).get("items") or []
        ready = sum(1 for n in items if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (n.get("status") or {}).get("conditions") or []))
        return ready, len(items)

    # cached reads ----------------------------------------------------------------
    def cache(self, kind: str, timeout: float = 30.0) -> Informer:
        informer = self.informers[kind]
        informer.ensure(timeout)
        return informer

    def apps(self, namespace: str) -> list[AppView]:
        return self.cache("deployments").in_namespace(namespace)

    def app(self, namespace: str, name: str) -> AppView | None:
        return self.cache("deployments").get(namespace, name)

    def pods(self, namespace: str, app: str) -> list[PodView]:
        return self.cache("pods").of_app(namespace, app)

    def replicasets(self, namespace: str, app: str) -> list[ReplicaSetView]:
        return self.cache("replicasets").of_app(namespace, app)

    def services(self, namespace: str, app: str) -> list[ServiceView]:
        return self.cache("services").of_app(namespace, app)

    def hpas(self, namespace: str, app: str) -> list[HpaView]:
        return self.cache("horizontalpodautoscalers").of_app(namespace, app)

    def forget_namespace(self, namespace: str) -> None:
        for informer in self.informers.values():
            if informer.synced.is_set():
                informer.forget_namespace(namespace)

    def cache_stats(self) -> dict:
        return {k: {"objects": len(i.objects), "synced": i.synced.is_set(), "relists": i.relists,
                    "error": i.error} for k, i in self.informers.items()}


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:120]


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

    The client is keyed by a digest of the content, so a new kubeconfig gets a new client."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    key = (os.getpid(), f"content:{digest}")
    kube = _clients.get(key)
    if kube is None:
        with _clients_lock:
            kube = _clients.get(key)
            if kube is None:
                data = parse_kubeconfig(content)
                kube = _clients[key] = Kube(data, label=label)
    return kube


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
