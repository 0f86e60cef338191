"""The kubelet's HTTPS server on each node's address: ``/containerLogs/<ns>/<pod>/<container>``
(what the API server's ``pods/log`` proxies to) and the health endpoints."""
from __future__ import annotations

import logging
import select
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .logs import ContainerLog, parse_rfc3339, rfc3339nano

if TYPE_CHECKING:
    from .sim import KubeletSim

log = logging.getLogger("hummer.kubelet_sim")


class KubeletServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, sim: KubeletSim, node: str, ctx: ssl.SSLContext):
        self.sim = sim
        self.node = node
        self.ctx = ctx
        super().__init__(addr, _KubeletHandler)

    def get_request(self):
        sock, addr = self.socket.accept()
        # The TLS handshake happens in the handler's thread, not the accept loop.
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


class _KubeletHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: KubeletServer

    def setup(self):
        self.request.settimeout(15)
        self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):  # quiet
        log.debug("%s %s", self.server.node, fmt % args)

    def _plain(self, code: int, text: str):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, OSError):
            pass

    def do_POST(self):
        self._plain(400, "exec, attach and port-forward are not supported by the simulated kubelet")

    def _get(self):
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if url.path in ("/healthz", "/readyz", "/livez"):
            return self._plain(200, "ok")
        if len(parts) != 5 or parts[1] != "containerLogs":
            return self._plain(404, "404 page not found")
        ns, pod, container = parts[2], parts[3], parts[4]
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        flag = lambda name: q.get(name, "").lower() in ("true", "1")  # noqa: E731
        follow, timestamps, previous = flag("follow"), flag("timestamps"), flag("previous")
        tail = int(q["tailLines"]) if q.get("tailLines", "").lstrip("-").isdigit() else None
        limit = int(q["limitBytes"]) if q.get("limitBytes", "").isdigit() else None
        since = None
        if q.get("sinceSeconds", "").isdigit():
            since = time.time_ns() - int(q["sinceSeconds"]) * 1_000_000_000
        elif q.get("sinceTime"):
            try:
                since = int(parse_rfc3339(q["sinceTime"]) * 1_000_000_000)
            except ValueError:
                pass
        sim = self.server.sim
        err = sim._log_error(ns, pod, container, previous)
        if err:
            return self._plain(*err)
        key = (ns, pod, container)
        store = sim.logs
        with store.cond:
            entry = store.get(key) or ContainerLog()
            lines = list(entry.previous or []) if previous else list(entry.lines)
        sent = len(lines)
        if since is not None:
            lines = [ln for ln in lines if ln[0] >= since]
        if tail is not None and tail >= 0:
            lines = lines[-tail:] if tail else []

        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if not follow or previous:
            body = b"".join(self._fmt(ln, timestamps) for ln in lines)
            if limit is not None:
                body = body[:limit]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Connection", "close")
        self.end_headers()
        budget = limit
        budget = self._write(b"".join(self._fmt(ln, timestamps) for ln in lines), budget)
        self.request.settimeout(10)
        with store.cond:
            entry = store.get(key)
            if entry is None:
                return
            store.follow(key, entry, +1)
        try:
            while budget is None or budget > 0:
                with store.cond:
                    if entry.ended or sim._stopping.is_set():
                        fresh = entry.lines[sent:]
                        sent += len(fresh)
                        done = True
                    else:
                        if len(entry.lines) <= sent:
                            store.cond.wait(0.5)
                        fresh = entry.lines[sent:]
                        sent += len(fresh)
                        done = entry.ended
                if fresh:
                    budget = self._write(b"".join(self._fmt(ln, timestamps) for ln in fresh), budget)
                if done or sim._stopping.is_set() or self._peer_closed():
                    break
        finally:
            store.follow(key, entry, -1)

    @staticmethod
    def _fmt(line, timestamps: bool) -> bytes:
        ts, text = line
        return (f"{rfc3339nano(ts)} {text}\n" if timestamps else f"{text}\n").encode()

    def _write(self, data: bytes, budget):
        if budget is not None:
            data = data[:budget]
            budget -= len(data)
        if data:
            self.wfile.write(data)
            self.wfile.flush()
        return budget

    def _peer_closed(self) -> bool:
        try:
            r, _, _ = select.select([self.request], [], [], 0)
            if not r:
                return False
            self.request.setblocking(False)
            try:
                return self.request.recv(1) == b""
            finally:
                self.request.setblocking(True)
                self.request.settimeout(10)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (OSError, ssl.SSLError, ValueError):
            return True
