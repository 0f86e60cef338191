"""The simulated kubelet: the only stand-in in Hummer's Kubernetes test harness.

It does what a real kubelet would show through the API, for N nodes at once:

* registers nodes node-1..N (capacity, allocatable, Ready condition, InternalIP
  127.0.0.(2+i), daemonEndpoints) and heartbeats their conditions;
* watches the pods bound to its nodes (list, then watch from the list's
  resourceVersion, relist on 410) and moves each through Pending -> Running ->
  Ready with realistic status (conditions, containerStatuses, hostIP, podIP
  from 172.16.0.0/16, containerID, imageID, startTime), patching status from a
  thread pool;
* pulls images from "the registry": every image pulls unless the test sets
  ``known_images`` (a set) or ``registry_checker`` (image -> bool); a missing
  image leaves the container waiting with ErrImagePull, then ImagePullBackOff,
  and is retried every ``pull_retry`` seconds;
* finishes Jobs' pods per ``job_rule(pod) -> "Succeeded" | "Failed" | None``
  after ``job_duration`` seconds (restartPolicy OnFailure: a "Failed" pod
  restarts its containers and goes CrashLoopBackOff instead);
* deletes pods that carry a deletionTimestamp with gracePeriodSeconds=0 (what
  a kubelet does once the containers are gone);
* serves ``/containerLogs/<ns>/<pod>/<container>`` over HTTPS on each node's
  address, so ``pods/log`` through the API server works, with tailLines,
  timestamps, follow, sinceSeconds/sinceTime, limitBytes and previous; lines
  are deterministic, tests can add their own with ``write_log``.

No containers run, nothing is pulled, no probes are run, there is no exec,
attach, port-forward, stats or metrics.
"""
from __future__ import annotations

import datetime
import hashlib
import heapq
import ipaddress
import itertools
import json
import logging
import select
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

import urllib3

log = logging.getLogger("hummer.kubelet_sim")

KUBELET_VERSION = "v1.20.2"
POD_CIDR = "172.16.0.0/16"


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339nano(ts_ns: int) -> str:
    sec, ns = divmod(ts_ns, 1_000_000_000)
    base = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ns:09d}Z"


def parse_rfc3339(text: str) -> float:
    text = text.strip().replace("Z", "+00:00")
    if "." in text:  # Python wants at most microseconds
        head, rest = text.split(".", 1)
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac):]
        text = f"{head}.{frac[:6]}{tz}"
    return datetime.datetime.fromisoformat(text).timestamp()


def _normalize_image(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


# --------------------------------------------------------------------------- REST

class ApiError(Exception):
    def __init__(self, status: int, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Rest:
    """A small JSON client over one urllib3 pool (the python client's models
    are far too slow for thousands of pods)."""

    def __init__(self, api_url: str, token: str, ca_file: str, maxsize: int = 32):
        self.api_url = api_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                        "User-Agent": "hummer-kubelet-sim"}
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=maxsize, block=False, cert_reqs="CERT_REQUIRED",
                                        ca_certs=ca_file, retries=False)

    def request(self, method: str, path: str, body=None, params: dict | None = None,
                content_type: str = "application/json", timeout: float = 30.0):
        url = self.api_url + path
        if params:
            url += "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        r = self.pool.request(method, url, body=data, headers=headers,
                              timeout=urllib3.Timeout(connect=5, read=timeout))
        try:
            doc = json.loads(r.data) if r.data else None
        except ValueError:
            doc = r.data.decode(errors="replace")
        if r.status >= 300:
            raise ApiError(r.status, doc)
        return doc

    def stream(self, path: str, params: dict, read_timeout: float):
        url = self.api_url + path + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        return self.pool.request("GET", url, headers=self.headers, preload_content=False,
                                 timeout=urllib3.Timeout(connect=5, read=read_timeout))


# --------------------------------------------------------------------------- work queue

class WorkQueue:
    """client-go's workqueue semantics: a key is never processed by two
    workers at once, and adds while processing are coalesced into one redo."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: deque = deque()
        self._dirty: set = set()
        self._processing: set = set()
        self._delayed: list = []
        self._seq = 0
        self._shutdown = False

    def add(self, key):
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key, delay: float):
        if delay <= 0:
            return self.add(key)
        with self._cond:
            self._seq += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, self._seq, key))
            self._cond.notify_all()

    def get(self):
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                now = time.monotonic()
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, key = heapq.heappop(self._delayed)
                    if key not in self._dirty:
                        self._dirty.add(key)
                        if key not in self._processing:
                            self._queue.append(key)
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                wait = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(wait)

    def done(self, key):
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self):
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self):
        with self._cond:
            return len(self._queue) + len(self._delayed)


# --------------------------------------------------------------------------- logs

class ContainerLog:
    __slots__ = ("lines", "previous", "counter", "followers", "next_tick", "ended")

    def __init__(self):
        self.lines: list[tuple[int, str]] = []
        self.previous: list[tuple[int, str]] | None = None
        self.counter = 0
        self.followers = 0
        self.next_tick = 0.0
        self.ended = False


class LogStore:
    """Container logs by (namespace, pod) -> container -> ContainerLog."""

    def __init__(self):
        self.cond = threading.Condition()
        self.pods: dict[tuple[str, str], dict[str, ContainerLog]] = {}
        self.followed: set[tuple[str, str, str]] = set()

    def get(self, key, create=False) -> ContainerLog | None:
        with self.cond:
            containers = self.pods.get(key[:2])
            entry = containers.get(key[2]) if containers else None
            if entry is None and create:
                entry = self.pods.setdefault(key[:2], {})[key[2]] = ContainerLog()
            return entry

    def append(self, key, text: str, ts_ns: int | None = None, previous=False):
        with self.cond:
            entry = self.get(key, create=True)
            ts_ns = ts_ns or time.time_ns()
            if previous:
                if entry.previous is None:
                    entry.previous = []
                target = entry.previous
            else:
                target = entry.lines
            for line in text.split("\n"):
                target.append((ts_ns, line))
            self.cond.notify_all()

    def next_generated(self, key, template: str, ts_ns: int | None = None):
        """Append one generated line "<pod> <container> line N: <template>"."""
        with self.cond:
            entry = self.get(key, create=True)
            entry.counter += 1
            ns, pod, container = key
            entry.lines.append((ts_ns or time.time_ns(), f"{pod} {container} line {entry.counter}: {template}"))
            self.cond.notify_all()

    def rotate(self, key):
        """The container restarted: its log becomes the previous one (followers of the old one end)."""
        with self.cond:
            old = self.get(key)
            new = ContainerLog()
            if old is not None:
                new.previous, new.counter = old.lines, old.counter
                old.ended = True
            self.pods.setdefault(key[:2], {})[key[2]] = new
            self.cond.notify_all()

    def end(self, key):
        with self.cond:
            entry = self.get(key)
            if entry:
                entry.ended = True
                self.cond.notify_all()

    def drop_pod(self, ns: str, pod: str):
        with self.cond:
            for entry in (self.pods.pop((ns, pod), None) or {}).values():
                entry.ended = True
            self.cond.notify_all()

    def follow(self, key, entry: ContainerLog, delta: int):
        with self.cond:
            entry.followers += delta
            if entry.followers > 0:
                self.followed.add(key)
            else:
                self.followed.discard(key)


# --------------------------------------------------------------------------- kubelet HTTPS server

class _KubeletServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, sim: "KubeletSim", node: str, ctx: ssl.SSLContext):
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
    server: _KubeletServer

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


# --------------------------------------------------------------------------- the simulator

class PodState:
    __slots__ = ("uid", "ip", "scheduled_at", "running_since", "pull_failed_since", "finished_at", "outcome",
                 "restarts", "last_restart", "written", "logs_started", "terminal", "events")

    def __init__(self, uid):
        self.uid = uid
        self.ip = None
        self.scheduled_at = None
        self.running_since = None
        self.pull_failed_since = None
        self.finished_at = None
        self.outcome = None
        self.restarts = 0
        self.last_restart = None
        self.written = None
        self.logs_started = False
        self.terminal = False
        self.events: set = set()


EVENT_QUEUE = 1000


def default_job_rule(pod: dict):
    return "Succeeded"


DEFAULTS = dict(ready_delay=0.0, start_delay=0.0, job_duration=1.0, pull_backoff_after=1.0, pull_retry=3.0,
                log_interval=1.0, events=True, event_qps=25.0, event_burst=50)


class KubeletSim:
    """Simulated kubelet for ``nodes`` nodes. Tunables (plain attributes, may be
    changed while running): known_images, registry_checker, job_rule,
    ready_delay, start_delay, job_duration, pull_backoff_after, pull_retry,
    log_interval, events (post the kubelet's Events: Pulled, Created, Started,
    Failed, BackOff), event_qps/event_burst (like a kubelet's --event-qps:
    events queue up and are posted at that rate, at most EVENT_QUEUE wait and
    newer ones are dropped, so thousands of pods starting at once do not
    double the API server's work). reset() restores the defaults."""

    def __init__(self, api_url: str, token: str, ca_file: str, nodes: int = 3, node_ips: list[str] | None = None,
                 cert_file: str | None = None, key_file: str | None = None, capacity: dict | None = None,
                 workers: int = 16, heartbeat: float = 10.0, node_prefix: str = "node-",
                 labels: dict | None = None, **tunables):
        self.rest = Rest(api_url, token, ca_file, maxsize=max(32, workers * 2))
        self.node_names = [f"{node_prefix}{i + 1}" for i in range(nodes)]
        self.node_ips = dict(zip(self.node_names, node_ips or [f"127.0.0.{2 + i}" for i in range(nodes)]))
        self.cert_file, self.key_file = cert_file, key_file
        self.capacity = {"cpu": "64", "memory": "256Gi", "pods": "5000", "ephemeral-storage": "1Ti"}
        self.capacity.update(capacity or {})
        self.labels = labels or {}
        self.workers = workers
        self.heartbeat = heartbeat
        self.known_images: set | None = None
        self.registry_checker = None
        self.job_rule = default_job_rule
        for k, v in DEFAULTS.items():
            setattr(self, k, v)
        for k, v in tunables.items():
            if k not in DEFAULTS and k not in ("known_images", "registry_checker", "job_rule"):
                raise TypeError(f"unknown KubeletSim option {k}")
            setattr(self, k, v)
        self.ports: dict[str, int] = {}
        self.logs = LogStore()
        self.queue = WorkQueue()
        self.cache: dict[tuple[str, str], dict] = {}
        self.states: dict[str, PodState] = {}
        self._ip_lock = threading.Lock()
        self._ips = (str(ip) for ip in ipaddress.ip_network(POD_CIDR).hosts())
        self._free_ips: list[str] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._servers: list[_KubeletServer] = []
        self._watch_resp = None
        self._rv_override = None
        self._boot = time.time()
        self.synced = threading.Event()
        self.stats = {"patches": 0, "deletes": 0, "errors": 0, "relists": 0, "events": 0, "events_dropped": 0}
        self._events: deque = deque()
        self._event_seq = itertools.count()
        self._events_cond = threading.Condition()

    # ---------------------------------------------------------------- configuration
    def reset(self):
        self.known_images = None
        self.registry_checker = None
        self.job_rule = default_job_rule
        for k, v in DEFAULTS.items():
            setattr(self, k, v)

    def image_exists(self, image: str) -> bool:
        if self.registry_checker is not None:
            try:
                return bool(self.registry_checker(image))
            except Exception:
                log.exception("registry checker failed for %s", image)
                return False
        if self.known_images is not None:
            known = {_normalize_image(i) for i in self.known_images}
            return _normalize_image(image) in known
        return True

    def write_log(self, namespace: str, pod: str, container: str, text: str, previous: bool = False):
        """Append text (one line per \\n) to a container's log, as if it printed it."""
        self.logs.append((namespace, pod, container), text, previous=previous)

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        self._start_servers()
        for name in self.node_names:
            self._register_node(name)
        self._spawn(self._watch_loop, "kubelet-sim-watch")
        for i in range(self.workers):
            self._spawn(self._worker, f"kubelet-sim-worker-{i}")
        self._spawn(self._heartbeat_loop, "kubelet-sim-heartbeat")
        self._spawn(self._log_ticker, "kubelet-sim-logs")
        self._spawn(self._event_poster, "kubelet-sim-events")
        if not self.synced.wait(30):
            raise RuntimeError("simulated kubelet could not list pods")
        return self

    def _cut_watch(self):
        resp = self._watch_resp
        if resp is not None:
            try:
                sock = resp.connection.sock if resp.connection else None
                if sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except Exception:
                pass

    def reconnect_watch(self, resource_version: str | None = None):
        """Drop the pod watch; it resumes from resource_version if given (a
        too old one makes the API server answer 410 Gone, and the kubelet
        relists), else from where it was."""
        self._rv_override = resource_version
        self._cut_watch()

    def stop(self, timeout: float = 5.0):
        self._stopping.set()
        self.queue.shutdown()
        self._cut_watch()
        with self.logs.cond:
            self.logs.cond.notify_all()
        with self._events_cond:
            self._events_cond.notify_all()
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.05, end - time.monotonic()))
        self.rest.pool.clear()

    def _spawn(self, fn, name):
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _start_servers(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        else:
            raise ValueError("the simulated kubelet needs a serving certificate (cert_file, key_file)")
        for name, ip in self.node_ips.items():
            srv = _KubeletServer((ip, 0), self, name, ctx)
            self.ports[name] = srv.server_address[1]
            self._servers.append(srv)
            self._spawn(srv.serve_forever, f"kubelet-sim-http-{name}")

    # ---------------------------------------------------------------- nodes
    def _node_conditions(self, now: float, transition: str | None = None):
        hb = rfc3339(now)
        tr = transition or rfc3339(self._boot)
        spec = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ("Ready", "True", "KubeletReady", "kubelet is posting ready status (simulated)")]
        return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": hb,
                 "lastTransitionTime": tr} for t, s, r, m in spec]

    def node_manifest(self, name: str) -> dict:
        ip = self.node_ips[name]
        now = time.time()
        machine = hashlib.md5(name.encode()).hexdigest()
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "hummer.io/simulated": "true", **self.labels},
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {},
            "status": {
                "capacity": dict(self.capacity), "allocatable": dict(self.capacity),
                "conditions": self._node_conditions(now),
                "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.ports[name]}},
                "nodeInfo": {"machineID": machine, "systemUUID": str(uuid.UUID(machine)),
                             "bootID": str(uuid.uuid4()), "kernelVersion": "6.1.0-simulated",
                             "osImage": "Hummer simulated node", "containerRuntimeVersion": "containerd://1.4.13",
                             "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                             "operatingSystem": "linux", "architecture": "amd64"},
            },
        }

    def _register_node(self, name: str):
        body = self.node_manifest(name)
        try:
            node = self.rest.request("POST", "/api/v1/nodes", body)
        except ApiError as e:
            if e.status != 409:
                raise
            node = self.rest.request("PATCH", f"/api/v1/nodes/{name}/status", {"status": body["status"]},
                                     content_type="application/merge-patch+json")
        taints = (node.get("spec") or {}).get("taints") or []
        keep = [t for t in taints if not t.get("key", "").startswith("node.kubernetes.io/")]
        if keep != taints:
            self.rest.request("PATCH", f"/api/v1/nodes/{name}", {"spec": {"taints": keep or None}},
                              content_type="application/merge-patch+json")

    def _heartbeat_loop(self):
        while not self._stopping.wait(self.heartbeat):
            for name in self.node_names:
                if self._stopping.is_set():
                    return
                try:
                    self.rest.request("PATCH", f"/api/v1/nodes/{name}/status",
                                      {"status": {"conditions": self._node_conditions(time.time())}},
                                      content_type="application/merge-patch+json", timeout=10)
                except ApiError as e:
                    if e.status == 404:  # somebody deleted the node: register it again
                        try:
                            self._register_node(name)
                        except Exception:
                            log.warning("could not re-register %s", name)
                except Exception:
                    if not self._stopping.is_set():
                        log.debug("heartbeat for %s failed", name, exc_info=True)

    # ---------------------------------------------------------------- watch
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
                self._on_pod("ADDED", pod)
            cont = doc["metadata"].get("continue")
            if not cont:
                rv = doc["metadata"]["resourceVersion"]
                break
        for key in list(self.cache):
            if key not in seen:
                self._on_pod("DELETED", self.cache[key])
        return rv

    def _watch_loop(self):
        rv = None
        failures = 0
        while not self._stopping.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                    self.synced.set()
                if self._rv_override is not None:
                    rv, self._rv_override = self._rv_override, None
                resp = self.rest.stream("/api/v1/pods", {
                    "watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                    "fieldSelector": "spec.nodeName!=", "timeoutSeconds": 120}, read_timeout=150)
                self._watch_resp = resp
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
                                self._on_pod(kind, obj)
                    failures = 0
                finally:
                    self._watch_resp = None
                    resp.release_conn()
            except _Relist:
                continue
            except Exception:
                if self._stopping.is_set():
                    return
                failures += 1
                log.debug("pod watch failed", exc_info=True)
                if failures > 3:
                    rv = None
                self._stopping.wait(min(2.0, 0.2 * failures))

    def _on_pod(self, kind: str, pod: dict):
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self.node_ips:
            return
        m = pod["metadata"]
        key = (m["namespace"], m["name"])
        if kind == "DELETED":
            cur = self.cache.get(key)
            if cur is not None and cur["metadata"]["uid"] == m["uid"]:
                del self.cache[key]
            st = self.states.pop(m["uid"], None)
            if st and st.ip:
                with self._ip_lock:
                    self._free_ips.append(st.ip)
            self.logs.drop_pod(*key)
            return
        self.cache[key] = pod
        self.queue.add(key)

    # ---------------------------------------------------------------- pod sync
    def _worker(self):
        while True:
            key = self.queue.get()
            if key is None:
                return
            try:
                self._sync(key)
            except Exception:
                if not self._stopping.is_set():
                    self.stats["errors"] += 1
                    log.warning("sync of pod %s/%s failed", *key, exc_info=True)
                    self.queue.add_after(key, 1.0)
            finally:
                self.queue.done(key)

    def _alloc_ip(self) -> str:
        with self._ip_lock:
            if self._free_ips:
                return self._free_ips.pop()
            return next(self._ips)

    def _sync(self, key):
        pod = self.cache.get(key)
        if pod is None or self._stopping.is_set():
            return
        meta, status = pod["metadata"], pod.get("status") or {}
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            self._delete(pod)
            return
        st = self.states.get(uid)
        if st is None:
            if status.get("phase") in ("Succeeded", "Failed"):
                return
            st = self.states[uid] = PodState(uid)
        if st.terminal:
            return
        desired, requeue = self._desired(pod, st, time.time())
        if desired != st.written:
            ns, name = key
            try:
                self.rest.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": desired},
                                  content_type="application/merge-patch+json")
                self.stats["patches"] += 1
                st.written = desired
                if self.events:
                    self._post_events(pod, st, desired)
                if desired["phase"] in ("Succeeded", "Failed"):
                    st.terminal = True
                    for c in pod["spec"]["containers"]:
                        self.logs.end((ns, name, c["name"]))
            except ApiError as e:
                if e.status == 404:
                    return
                raise
        if requeue is not None and not st.terminal:
            self.queue.add_after(key, requeue)

    def _post_events(self, pod: dict, st: PodState, desired: dict):
        """The Events a kubelet records for these container states (once each)."""
        meta, spec = pod["metadata"], pod["spec"]
        node = spec["nodeName"]
        images = {c["name"]: c.get("image", "") for c in (spec.get("initContainers") or []) + spec["containers"]}
        inits = {c["name"] for c in spec.get("initContainers") or []}
        todo = []
        for cs in (desired.get("initContainerStatuses") or []) + desired.get("containerStatuses", []):
            name, state, n = cs["name"], cs["state"], cs.get("restartCount", 0)
            image = images.get(name, "")
            field = f"spec.{'initContainers' if name in inits else 'containers'}{{{name}}}"
            reason = (state.get("waiting") or {}).get("reason")
            if reason == "ErrImagePull":
                todo.append(("Failed", "Warning", field, (name, "ErrImagePull"),
                             f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull '
                             f'and unpack image "{image}": not found'))
            elif reason == "ImagePullBackOff":
                todo.append(("BackOff", "Normal", field, (name, "BackOff"), f'Back-off pulling image "{image}"'))
            elif "running" in state or ("terminated" in state and name in inits):
                todo += [("Pulled", "Normal", field, (name, "Pulled", n),
                          f'Container image "{image}" already present on machine'),
                         ("Created", "Normal", field, (name, "Created", n), f"Created container {name}"),
                         ("Started", "Normal", field, (name, "Started", n), f"Started container {name}")]
        now = rfc3339(time.time())
        for reason, etype, field, once, message in todo:
            if once in st.events:
                continue
            st.events.add(once)
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{time.time_ns() + next(self._event_seq):x}",
                             "namespace": meta["namespace"]},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                                   "namespace": meta["namespace"], "uid": meta["uid"], "fieldPath": field},
                "reason": reason, "message": message, "type": etype, "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": "kubelet", "host": node},
                "reportingComponent": "kubelet", "reportingInstance": node,
            }
            with self._events_cond:
                if len(self._events) >= EVENT_QUEUE:
                    self.stats["events_dropped"] += 1
                    continue
                self._events.append(event)
                self._events_cond.notify()

    def _event_poster(self):
        """Posts queued Events at event_qps (token bucket of event_burst)."""
        tokens, last = float(self.event_burst), time.monotonic()
        while not self._stopping.is_set():
            with self._events_cond:
                while not self._events and not self._stopping.is_set():
                    self._events_cond.wait(0.5)
                if self._stopping.is_set():
                    return
                event = self._events.popleft()
            qps = self.event_qps or 0
            if qps > 0:  # 0 or None: no limit
                now = time.monotonic()
                tokens = min(float(self.event_burst), tokens + (now - last) * qps)
                last = now
                if tokens < 1:
                    if self._stopping.wait((1 - tokens) / qps):
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
                if not self._stopping.is_set():
                    log.debug("event %s failed", event["reason"], exc_info=True)

    def _delete(self, pod: dict):
        m = pod["metadata"]
        try:
            self.rest.request("DELETE", f"/api/v1/namespaces/{m['namespace']}/pods/{m['name']}",
                              {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                               "preconditions": {"uid": m["uid"]}})
            self.stats["deletes"] += 1
        except ApiError as e:
            if e.status not in (404, 409):
                raise

    @staticmethod
    def _cond(ctype: str, ok: bool, ts: str, reason: str | None = None, message: str | None = None):
        c = {"type": ctype, "status": "True" if ok else "False", "lastProbeTime": None, "lastTransitionTime": ts}
        if reason:
            c["reason"] = reason
        if message:
            c["message"] = message
        return c

    @classmethod
    def _readiness(cls, ready: bool, ts: str, names: str) -> list[dict]:
        """The Ready and ContainersReady conditions, with the kubelet's reason when not ready."""
        reason = None if ready else "ContainersNotReady"
        message = None if ready else f"containers with unready status: [{names}]"
        return [cls._cond("Ready", ready, ts, reason, message),
                cls._cond("ContainersReady", ready, ts, reason, message)]

    def _desired(self, pod: dict, st: PodState, now: float):
        """The status this pod should have now, and when to look again."""
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        ns, name = meta["namespace"], meta["name"]
        containers = spec.get("containers") or []
        inits = spec.get("initContainers") or []
        host_ip = self.node_ips[spec["nodeName"]]
        if st.scheduled_at is None:
            st.scheduled_at = now
        sched = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        scheduled_cond = sched or self._cond("PodScheduled", True, rfc3339(st.scheduled_at))
        scheduled_cond = {**scheduled_cond, "lastProbeTime": None}
        start_ts = rfc3339(st.scheduled_at)
        base = {"hostIP": host_ip, "startTime": start_ts, "phase": "Pending"}

        def waiting(c, reason, message=None, restarts=0, last_state=None):
            w = {"reason": reason}
            if message:
                w["message"] = message
            return {"name": c["name"], "state": {"waiting": w}, "lastState": last_state or {}, "ready": False,
                    "restartCount": restarts, "image": c.get("image", ""), "imageID": "", "started": False}

        # 1. ContainerCreating for start_delay seconds.
        if st.running_since is None and self.start_delay and now - st.scheduled_at < self.start_delay:
            names = ",".join(c["name"] for c in containers)
            return ({**base, "conditions": [
                self._cond("Initialized", not inits, start_ts),
                *self._readiness(False, start_ts, names),
                scheduled_cond],
                "containerStatuses": [waiting(c, "ContainerCreating") for c in containers]},
                self.start_delay - (now - st.scheduled_at))

        # 2. Image pulls.
        if st.running_since is None:
            missing = {c["name"] for c in inits + containers if not self.image_exists(c.get("image", ""))}
            if missing:
                if st.pull_failed_since is None:
                    st.pull_failed_since = now
                failed_for = now - st.pull_failed_since
                backoff = failed_for >= self.pull_backoff_after
                names = ",".join(c["name"] for c in containers)

                def pull_status(c):
                    if c["name"] not in missing:
                        return waiting(c, "PodInitializing" if inits else "ContainerCreating")
                    if backoff:
                        return waiting(c, "ImagePullBackOff", f'Back-off pulling image "{c.get("image")}"')
                    return waiting(c, "ErrImagePull",
                                   f'rpc error: code = NotFound desc = failed to pull and unpack image '
                                   f'"{c.get("image")}": not found')
                desired = {**base, "conditions": [
                    self._cond("Initialized", not inits, start_ts),
                    *self._readiness(False, start_ts, names),
                    scheduled_cond],
                    "containerStatuses": [pull_status(c) for c in containers]}
                if inits:
                    desired["initContainerStatuses"] = [pull_status(c) for c in inits]
                if not backoff:
                    return desired, self.pull_backoff_after - failed_for
                return desired, self.pull_retry
            st.pull_failed_since = None
            st.running_since = now
            st.ip = self._alloc_ip()

        run_ts = rfc3339(st.running_since)
        if not st.logs_started:
            st.logs_started = True
            ts_ns = int(st.running_since * 1e9)
            for c in containers:
                k = (ns, name, c["name"])
                self.logs.next_generated(k, f"started with image {c.get('image', '')}", ts_ns)
                self.logs.next_generated(k, "configuration loaded", ts_ns)
                self.logs.next_generated(k, "ready to serve", ts_ns)

        requeue = None
        ready_at = st.running_since + (self.ready_delay or 0)
        ready = now >= ready_at
        if not ready:
            requeue = ready_at - now

        # 3. Jobs' pods finish per the rule.
        is_job = any(o.get("kind") == "Job" for o in meta.get("ownerReferences") or [])
        outcome = None
        if is_job:
            since = st.last_restart or st.running_since
            if now - since >= self.job_duration:
                try:
                    outcome = self.job_rule(pod)
                except Exception:
                    log.exception("job rule failed for %s/%s", ns, name)
                    outcome = None
                if outcome is None:
                    requeue = min(requeue or 1.0, 1.0)
            else:
                requeue = min(requeue or 1e9, self.job_duration - (now - since))

        image_id = lambda c: "docker-pullable://{}@sha256:{}".format(  # noqa: E731
            c.get("image", "").split("@")[0], hashlib.sha256(c.get("image", "").encode()).hexdigest())
        container_id = lambda c, n=0: "containerd://" + hashlib.sha256(  # noqa: E731
            f"{st.uid}/{c['name']}/{n}".encode()).hexdigest()

        init_statuses = [{"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", ""),
                          "imageID": image_id(c), "containerID": container_id(c), "started": False,
                          "lastState": {},
                          "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": run_ts,
                                                   "finishedAt": run_ts, "containerID": container_id(c)}}}
                         for c in inits]

        if outcome == "Failed" and spec.get("restartPolicy") == "OnFailure":
            # The kubelet restarts the containers in place; the Job controller counts restarts.
            st.restarts += 1
            st.last_restart = now
            for c in containers:
                self.logs.next_generated((ns, name, c["name"]), "exited with code 1")
                self.logs.rotate((ns, name, c["name"]))
                self.logs.next_generated((ns, name, c["name"]), f"started with image {c.get('image', '')}")
            outcome = None
            requeue = self.job_duration

        if outcome in ("Succeeded", "Failed"):
            code = 0 if outcome == "Succeeded" else 1
            fin = rfc3339(now if st.finished_at is None else st.finished_at)
            if st.finished_at is None:
                st.finished_at = now
                for c in containers:
                    self.logs.next_generated((ns, name, c["name"]), f"exited with code {code}")
            reason = "Completed" if code == 0 else "Error"
            names = ",".join(c["name"] for c in containers)
            desired = {
                "phase": outcome, "hostIP": host_ip, "podIP": st.ip, "podIPs": [{"ip": st.ip}],
                "startTime": start_ts,
                "conditions": [
                    self._cond("Initialized", True, start_ts, "PodCompleted"),
                    self._cond("Ready", False, fin, "PodCompleted"),
                    self._cond("ContainersReady", False, fin, "PodCompleted"),
                    scheduled_cond],
                "containerStatuses": [{
                    "name": c["name"], "ready": False, "restartCount": st.restarts, "image": c.get("image", ""),
                    "imageID": image_id(c), "containerID": container_id(c, st.restarts), "started": False,
                    "lastState": {},
                    "state": {"terminated": {"exitCode": code, "reason": reason,
                                             "startedAt": rfc3339(st.last_restart or st.running_since),
                                             "finishedAt": fin, "containerID": container_id(c, st.restarts)}},
                } for c in containers],
            }
            del names
            if inits:
                desired["initContainerStatuses"] = init_statuses
            return desired, None

        crashed = st.restarts > 0 and st.last_restart is not None
        names = ",".join(c["name"] for c in containers)

        def running(c):
            s = {"name": c["name"], "ready": ready, "restartCount": st.restarts, "image": c.get("image", ""),
                 "imageID": image_id(c), "containerID": container_id(c, st.restarts), "started": True,
                 "lastState": {},
                 "state": {"running": {"startedAt": rfc3339(st.last_restart or st.running_since)}}}
            if crashed:
                s["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": run_ts,
                                                 "finishedAt": rfc3339(st.last_restart),
                                                 "containerID": container_id(c, st.restarts - 1)}}
            return s

        ready_ts = rfc3339(ready_at if ready else st.running_since)
        desired = {
            "phase": "Running", "hostIP": host_ip, "podIP": st.ip, "podIPs": [{"ip": st.ip}], "startTime": start_ts,
            "conditions": [
                self._cond("Initialized", True, start_ts),
                *self._readiness(ready, ready_ts, names),
                scheduled_cond],
            "containerStatuses": [running(c) for c in containers],
        }
        if inits:
            desired["initContainerStatuses"] = init_statuses
        return desired, requeue

    # ---------------------------------------------------------------- logs
    def _log_error(self, ns: str, pod: str, container: str, previous: bool):
        """(code, message) like the kubelet's, or None when the log can be served."""
        obj = self.cache.get((ns, pod))
        if obj is None:
            return 404, f'pod "{pod}" in namespace "{ns}" not found'
        names = [c["name"] for c in (obj["spec"].get("initContainers") or []) + obj["spec"]["containers"]]
        if container not in names:
            return 400, f'container "{container}" in pod "{pod}" is not valid'
        entry = self.logs.get((ns, pod, container))
        if previous:
            if entry is None or entry.previous is None:
                return 400, f'previous terminated container "{container}" in pod "{pod}" not found'
            return None
        st = self.states.get(obj["metadata"]["uid"])
        if st is None or st.running_since is None:
            if entry is not None and entry.lines:
                return None  # a test wrote lines before the start
            waiting = "ContainerCreating"
            if st is not None and st.pull_failed_since is not None:
                waiting = "trying and failing to pull image"
            return 400, f'container "{container}" in pod "{pod}" is waiting to start: {waiting}'
        return None

    def _log_ticker(self):
        """While somebody follows a running container's log, it prints a line every log_interval seconds."""
        while not self._stopping.wait(0.2):
            if not self.log_interval:
                continue
            now = time.monotonic()
            with self.logs.cond:
                followed = [(k, self.logs.get(k)) for k in self.logs.followed]
            for key, entry in followed:
                if entry is None or entry.ended:
                    continue
                st = None
                pod = self.cache.get(key[:2])
                if pod is not None:
                    st = self.states.get(pod["metadata"]["uid"])
                if st is None or st.running_since is None or st.terminal:
                    continue
                if entry.next_tick == 0.0:
                    entry.next_tick = now + self.log_interval
                elif now >= entry.next_tick:
                    entry.next_tick = now + self.log_interval
                    self.logs.next_generated(key, "still running")

    # ---------------------------------------------------------------- introspection
    def pod_state(self, namespace: str, name: str) -> PodState | None:
        pod = self.cache.get((namespace, name))
        return self.states.get(pod["metadata"]["uid"]) if pod else None

    def idle(self) -> bool:
        return len(self.queue) == 0


class _Relist(Exception):
    pass
