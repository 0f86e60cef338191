"""The metrics stand-in: ``metrics.k8s.io/v1beta1`` served from the simulated kubelet's
synthetic usage (usage.py), in place of metrics-server scraping real kubelets.

An HTTPS server on 127.0.0.1 that the API server's aggregation layer proxies to
(the APIService ``v1beta1.metrics.k8s.io``, registered by tests/support/aggregation.py).
Like metrics-server it trusts only the API server: the client must present a
certificate signed by the request-header CA with an allowed name (the proxy client
certificate), and the user is then the X-Remote-User it forwards.

It serves discovery (/apis, /apis/metrics.k8s.io, /apis/metrics.k8s.io/v1beta1),
PodMetrics (list in all namespaces or one, with labelSelector; get) and NodeMetrics
(list with labelSelector; get). A pod is listed once its containers run and until
they end, unless a test said it is not reported; its timestamp is now and its window
WINDOW, as if just scraped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .podstate import rfc3339
from .usage import format_cpu, format_memory, parse_selector, selector_matches

if TYPE_CHECKING:
    from .sim import KubeletSim

log = logging.getLogger("hummer.kubelet_sim")

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "1s"
RESOURCES = [
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
]
# The API server's OpenAPI aggregation fetches every APIService's spec (a 404 is logged as
# an error and retried with backoff); an empty one, with an ETag it may revalidate.
OPENAPI = json.dumps({"swagger": "2.0", "info": {"title": "hummer metrics stand-in", "version": VERSION},
                      "paths": {}, "definitions": {}}).encode()
OPENAPI_ETAG = '"' + hashlib.sha256(OPENAPI).hexdigest()[:32] + '"'


def _usage_doc(usage) -> dict:
    return {"cpu": format_cpu(usage.cpu), "memory": format_memory(usage.memory)}


def pod_metrics(sim: KubeletSim, namespace: str | None, selector: tuple = (), name: str | None = None,
                now: float | None = None) -> list[dict]:
    """The PodMetrics items of the running, reported pods (of namespace, or all)."""
    stamp = rfc3339(time.time() if now is None else now)
    items = []
    for (ns, pod_name), pod in sorted(list(sim.cache.items())):
        if (namespace is not None and ns != namespace) or (name is not None and pod_name != name):
            continue
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        if not selector_matches(selector, labels):
            continue
        per_container = sim.usage(ns, pod_name)
        if per_container is None:
            continue
        items.append({
            "metadata": {"name": pod_name, "namespace": ns, "labels": labels,
                         "creationTimestamp": stamp},
            "timestamp": stamp, "window": WINDOW,
            "containers": [{"name": c, "usage": _usage_doc(u)} for c, u in per_container.items()],
        })
    return items


def node_metrics(sim: KubeletSim, selector: tuple = (), name: str | None = None,
                 now: float | None = None) -> list[dict]:
    stamp = rfc3339(time.time() if now is None else now)
    items = []
    for node in sim.node_names:
        if name is not None and node != name:
            continue
        labels = sim.node_manifest(node)["metadata"]["labels"]
        if not selector_matches(selector, labels):
            continue
        items.append({"metadata": {"name": node, "labels": labels, "creationTimestamp": stamp},
                      "timestamp": stamp, "window": WINDOW, "usage": _usage_doc(sim.node_usage(node))})
    return items


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, sim: KubeletSim, cert_file: str, key_file: str, client_ca_file: str,
                 allowed_names: tuple[str, ...], host: str = "127.0.0.1", port: int = 0):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca_file)
        self.ctx = ctx
        self.sim = sim
        self.allowed_names = tuple(allowed_names)
        super().__init__((host, port), _MetricsHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address):
        # A client gone during the TLS handshake, or one without the proxy certificate.
        log.debug("metrics stand-in: connection from %s failed", client_address, exc_info=True)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The TLS handshake happens in the handler's thread, not the accept loop.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


class _MetricsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MetricsServer

    def setup(self):
        self.request.settimeout(60)  # an idle kept-alive connection of the API server's
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):  # quiet
        log.debug("metrics %s", fmt % args)

    def _json(self, code: int, doc: dict):
        body = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _status(self, code: int, reason: str, message: str, details: dict | None = None):
        doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}
        if details:
            doc["details"] = details
        self._json(code, doc)

    def _caller(self) -> str | None:
        """The user the API server vouches for, or None when the peer is not the API server."""
        cert = self.request.getpeercert() or {}
        names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        if not names or names[0] not in self.server.allowed_names:
            return None
        return self.headers.get("X-Remote-User") or None

    def do_GET(self):
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception:
            log.exception("metrics stand-in: %s failed", self.path)
            self._status(500, "InternalError", "the metrics stand-in failed")

    def _get(self):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")] if url.path.strip("/") else []
        if url.path in ("/healthz", "/readyz", "/livez"):
            return self._json(200, {"status": "ok"})
        if self._caller() is None:
            return self._status(401, "Unauthorized", "Unauthorized")
        if parts == ["openapi", "v2"]:
            return self._openapi()
        if parts == ["apis"]:
            version = {"groupVersion": GROUP_VERSION, "version": VERSION}
            return self._json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": GROUP, "versions": [version], "preferredVersion": version}]})
        if parts == ["apis", GROUP]:
            version = {"groupVersion": GROUP_VERSION, "version": VERSION}
            return self._json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP,
                                    "versions": [version], "preferredVersion": version})
        if parts[:3] != ["apis", GROUP, VERSION]:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        rest = parts[3:]
        if not rest:
            return self._json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION,
                                    "resources": RESOURCES})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            selector = parse_selector(query.get("labelSelector"))
        except ValueError as e:
            return self._status(400, "BadRequest", str(e))
        sim = self.server.sim
        if rest[0] == "namespaces" and len(rest) in (3, 4) and rest[2] == "pods":
            namespace, name = rest[1], (rest[3] if len(rest) == 4 else None)
        elif rest[0] == "pods" and len(rest) == 1:
            namespace, name = None, None
        elif rest[0] == "nodes" and len(rest) in (1, 2):
            name = rest[1] if len(rest) == 2 else None
            items = node_metrics(sim, selector, name)
            if name is None:
                return self._list("NodeMetricsList", items)
            if not items:
                return self._not_found("nodes", name, name)
            return self._json(200, {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, **items[0]})
        else:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        items = pod_metrics(sim, namespace, selector, name)
        if name is None:
            return self._list("PodMetricsList", items)
        if not items:
            return self._not_found("pods", name, f"{namespace}/{name}")
        return self._json(200, {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, **items[0]})

    def _openapi(self):
        fresh = self.headers.get("If-None-Match") == OPENAPI_ETAG
        self.send_response(304 if fresh else 200)
        self.send_header("ETag", OPENAPI_ETAG)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "0" if fresh else str(len(OPENAPI)))
        self.end_headers()
        if not fresh:
            self.wfile.write(OPENAPI)

    def _list(self, kind: str, items: list[dict]):
        self._json(200, {"kind": kind, "apiVersion": GROUP_VERSION, "metadata": {}, "items": items})

    def _not_found(self, resource: str, name: str, shown: str):
        kind = "podmetrics" if resource == "pods" else "nodemetrics"
        self._status(404, "NotFound", f'{kind}.{GROUP} "{shown}" not found',
                     {"name": name, "group": GROUP, "kind": resource})
