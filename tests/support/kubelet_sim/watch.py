"""The kubelet's watch of the pods bound to nodes: list, then watch from the
list's resourceVersion; a 410 Gone, a watch ERROR or repeated failures relist."""
from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable

from .rest import ApiError, Rest

log = logging.getLogger("hummer.kubelet_sim")


class _Relist(Exception):
    pass


class PodWatch:
    """Calls ``on_pod(kind, pod)`` for every pod bound to a node ("ADDED",
    "MODIFIED", "DELETED"); after a relist, pods of ``cache`` (namespace,
    name) -> pod that are gone are reported DELETED."""

    def __init__(self, rest: Rest, on_pod: Callable[[str, dict], None], cache: dict, stats: dict,
                 stopping: threading.Event):
        self.rest, self.on_pod, self.cache, self.stats, self.stopping = rest, on_pod, cache, stats, stopping
        self.synced = threading.Event()
        self._resp = None
        self._rv_override = None

    def cut(self) -> None:
        """Drop the current watch connection."""
        resp = self._resp
        if resp is not None:
            try:
                sock = resp.connection.sock if resp.connection else None
                if sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass

    def reconnect(self, resource_version: str | None = None) -> None:
        self._rv_override = resource_version
        self.cut()

    def _relist(self) -> str:
        self.stats["relists"] += 1
        seen = set()
        cont = None
        while True:
            params = {"fieldSelector": "spec.nodeName!=", "limit": 500}
            if cont:
                params["continue"] = cont
            doc = self.rest.request("GET", "/api/v1/pods", params=params, timeout=60)
            for pod in doc.get("items", []):
                m = pod["metadata"]
                seen.add((m["namespace"], m["name"]))
                self.on_pod("ADDED", pod)
            cont = doc["metadata"].get("continue")
            if not cont:
                rv = doc["metadata"]["resourceVersion"]
                break
        for key in list(self.cache):
            if key not in seen:
                self.on_pod("DELETED", self.cache[key])
        return rv

    def run(self) -> None:
        rv = None
        failures = 0
        while not self.stopping.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                    self.synced.set()
                if self._rv_override is not None:
                    rv, self._rv_override = self._rv_override, None
                resp = self.rest.stream("/api/v1/pods", {
                    "watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                    "fieldSelector": "spec.nodeName!=", "timeoutSeconds": 120}, read_timeout=150)
                self._resp = resp
                try:
                    if resp.status == 410:
                        rv = None
                        continue
                    if resp.status != 200:
                        raise ApiError(resp.status, resp.data)
                    buf = b""
                    for chunk in resp.stream(65536, decode_content=True):
                        buf += chunk
                        while b"\n" in buf:
                            line, buf = buf.split(b"\n", 1)
                            if not line.strip():
                                continue
                            ev = json.loads(line)
                            kind, obj = ev.get("type"), ev.get("object") or {}
                            if kind == "ERROR":
                                log.info("watch error %s; relisting", obj.get("message"))
                                rv = None
                                raise _Relist()
                            rv = obj["metadata"]["resourceVersion"]
                            if kind != "BOOKMARK":
                                self.on_pod(kind, obj)
                    failures = 0
                finally:
                    self._resp = None
                    resp.release_conn()
            except _Relist:
                continue
            except Exception:
                if self.stopping.is_set():
                    return
                failures += 1
                log.debug("pod watch failed", exc_info=True)
                if failures > 3:
                    rv = None
                self.stopping.wait(min(2.0, 0.2 * failures))
