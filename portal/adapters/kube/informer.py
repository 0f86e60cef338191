"""The watch-fed cache: one Informer per cached kind (kinds.CACHED) across all namespaces.

Each lists (in pages of 500, with its kind's label selector: Hummer's objects carry
`hummer.io/app`), then watches from the list's resourceVersion, and lists again on 410
Gone, in a daemon thread started on first use (or by Kube.start_caches when a worker
starts). It keeps the kind's views (views.py), never client objects, indexed by name,
by namespace and by group (an app's pods, an object's Events); until its first list is
in, a group is read from the server instead (`group`). After a write, the
writing process applies the API server's answer at once (`apply`), so the user sees
their change on the next page; other processes converge within the watch latency.
"""
from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from kubernetes.watch.watch import iter_resp_lines

from portal.adapters.kube.errors import KubeError, Unavailable
from portal.adapters.kube.kinds import KINDS, path

if TYPE_CHECKING:
    from portal.adapters.kube.client import Kube

__all__ = ["Informer", "WATCH_SECONDS"]

WATCH_SECONDS = 240        # the server ends each watch after this; we watch again


class _Gone(Exception):
    """410: the resourceVersion we watch from was compacted away; list again."""


class Informer:
    """A watch-fed cache of one resource kind (see the module docstring)."""

    def __init__(self, kube: "Kube", kind: str):
        entry = KINDS[kind]
        self.kube, self.kind, self.selector = kube, kind, entry.selector
        self.view_of, self.group_of, self.bound = entry.view, entry.group, entry.bound
        self.group_query = entry.group_query
        self.objects: dict[tuple[str, str], Any] = {}
        self.by_ns: dict[str, dict[str, Any]] = {}
        self.by_group: dict[tuple[str, str], dict[str, Any]] = {}
        self.rv = ""
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.tried = threading.Event()
        self.error = ""
        self.relists = 0
        self._stop = threading.Event()
        self._response = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # the thread's life --------------------------------------------------------
    def start(self) -> None:
        """Start the list and watch (once); returns at once."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stop.is_set():
                    self._thread = threading.Thread(target=self._run, name=f"hummer-watch-{self.kind}",
                                                    daemon=True)
                    self._thread.start()

    def stop(self) -> None:
        """End the watch thread: it ends its open watch and does not list again."""
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()      # unblocks the thread's read at once
            except Exception:
                pass

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # reading ----------------------------------------------------------------
    def ensure(self, timeout: float = 30.0) -> None:
        """Start the watch if needed; wait for the first list. Unavailable if it failed."""
        self.start()
        if self.synced.is_set():
            return
        self.tried.wait(timeout)
        if not self.synced.is_set():
            raise Unavailable(self.error or f"Listing {self.kind} took longer than {timeout:.0f} s.")

    def group(self, namespace: str, key: str) -> list:
        """One group's views (an app's pods, an object's Events): from the cache once it
        holds its list; while the first list is still running, straight from the API
        server with one selected list call, so that a fresh worker's first app page does not
        wait for a namespace of 10,000 pods to be listed (starts the watch if needed)."""
        self.start()
        if self.synced.is_set():
            return self.of_group(namespace, key)
        query = self.group_query(key)
        if self.selector:
            query["labelSelector"] = ",".join(filter(None, (self.selector, query.get("labelSelector"))))
        # resourceVersion=0: served from the API server's watch cache, not read from etcd and
        # filtered there (a selected list in a namespace of 10,000 pods took 0.7 s that way);
        # it may be a moment old, as the cache this stands in for is.
        query["resourceVersion"] = "0"
        page = self.kube.request("GET", path(self.kind, namespace), query=query)
        views = (self.view_of(item) for item in page.get("items") or [])
        return [v for v in views if v is not None and self.group_of(v) == (namespace, key)]

    def in_namespace(self, namespace: str) -> list:
        return list(self.by_ns.get(namespace, {}).values())

    def of_group(self, namespace: str, key: str) -> list:
        """The views of one group: an app's objects, or the Events of one object."""
        return list(self.by_group.get((namespace, key), {}).values())

    def get(self, namespace: str, name: str):
        return self.objects.get((namespace, name))

    # writing (from the watch, or from a write's response) ----------------------
    def _put(self, view) -> None:
        key = (view.namespace, view.name)
        old = self.objects.get(key)
        if old is not None and old.rv > view.rv:
            return  # an older event than what we already have
        if old is None and self.bound and len(self.objects) >= self.bound:
            self._remove(*next(iter(self.objects)))  # the oldest first in goes
        self.objects[key] = view
        self.by_ns.setdefault(view.namespace, {})[view.name] = view
        self.by_group.setdefault(self.group_of(view), {})[view.name] = view

    def _remove(self, namespace: str, name: str) -> None:
        old = self.objects.pop((namespace, name), None)
        if old is None:
            return
        ns_map = self.by_ns.get(namespace)
        if ns_map is not None:
            ns_map.pop(name, None)
            if not ns_map:
                del self.by_ns[namespace]
        group = self.group_of(old)
        group_map = self.by_group.get(group)
        if group_map is not None:
            group_map.pop(name, None)
            if not group_map:
                del self.by_group[group]

    def apply(self, obj: dict) -> None:
        """Apply an object the API server returned after a write (read-your-writes)."""
        if not self.synced.is_set() or not obj:
            return
        labels = obj.get("metadata", {}).get("labels") or {}
        if self.selector and self.selector not in labels:
            return
        view = self.view_of(obj)
        if view is not None:
            with self.lock:
                self._put(view)

    def forget(self, namespace: str, name: str) -> None:
        with self.lock:
            self._remove(namespace, name)

    def forget_group(self, namespace: str, key: str) -> None:
        with self.lock:
            for name in list(self.by_group.get((namespace, key), {})):
                self._remove(namespace, name)

    def forget_namespace(self, namespace: str) -> None:
        with self.lock:
            for name in list(self.by_ns.get(namespace, {})):
                self._remove(namespace, name)

    # the thread ---------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not self.rv:
                    self._relist()
                self._watch()
                backoff = 0.5
            except _Gone:
                self.rv = ""
            except Exception as exc:  # keep the thread alive whatever happens
                if self._stop.is_set():
                    break
                self.error = exc.message if isinstance(exc, KubeError) else f"{type(exc).__name__}: {exc}"
                self.tried.set()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _query(self, **extra) -> dict:
        query = {"labelSelector": self.selector} if self.selector else {}
        query.update(extra)
        return query

    def _relist(self) -> None:
        objects, by_ns, by_group = {}, {}, {}
        cont, rv = "", ""
        while True:
            query = self._query(limit=500)
            if cont:
                query["continue"] = cont
            page = self.kube.request("GET", path(self.kind), query=query, timeout=(3, 60))
            for item in page.get("items") or []:
                view = self.view_of(item)
                if view is None:
                    continue
                objects[(view.namespace, view.name)] = view
                by_ns.setdefault(view.namespace, {})[view.name] = view
                by_group.setdefault(self.group_of(view), {})[view.name] = view
            meta = page.get("metadata") or {}
            rv = rv or meta.get("resourceVersion", "")
            cont = meta.get("continue") or ""
            if not cont:
                break
        with self.lock:
            self.objects, self.by_ns, self.by_group = objects, by_ns, by_group
            while self.bound and len(self.objects) > self.bound:
                self._remove(*next(iter(self.objects)))
            self.rv = rv
        self.relists += 1
        self.error = ""
        self.synced.set()
        self.tried.set()

    def _watch(self) -> None:
        query = self._query(watch="1", resourceVersion=self.rv, allowWatchBookmarks="true",
                            timeoutSeconds=WATCH_SECONDS)
        try:
            resp = self.kube.request("GET", path(self.kind), query=query, stream=True,
                                     timeout=(3, WATCH_SECONDS + 30))
        except KubeError as error:
            if error.status == 410:
                raise _Gone() from error
            raise
        self._response = resp
        self.error = ""
        try:
            if self._stop.is_set():
                return
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
                        view = self.view_of(obj)
                        if view is not None:
                            self._put(view)
                self.rv = meta.get("resourceVersion") or self.rv
        finally:
            self._response = None
            resp.release_conn()
