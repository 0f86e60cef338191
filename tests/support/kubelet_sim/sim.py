"""KubeletSim: the simulated kubelet's threads and its talk with the API server.

What a pod's status becomes is decided by podstate.step (pure); this module
watches the pods, runs that step on a pool of workers, patches the status,
deletes terminating pods, writes the containers' logs and posts the Events.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging
import ssl
import threading
import time

from . import node as nodes
from . import podstate
from .events import EventPoster
from .logs import LogStore
from .metrics import MetricsServer
from .podstate import Knobs, PodState, normalize_image
from .rest import ApiError, Rest
from .server import KubeletServer
from .usage import NO_USAGE, Usage, UsageRules, cpu_nanocores, memory_bytes
from .watch import PodWatch
from .workqueue import WorkQueue

log = logging.getLogger("hummer.kubelet_sim")

POD_CIDR = "172.16.0.0/16"


def default_job_rule(pod: dict):
    return "Succeeded"


# What a node uses beside its pods (system daemons, the kubelet itself), unless a test says otherwise.
NODE_BASE = Usage(cpu=cpu_nanocores("100m"), memory=memory_bytes("512Mi"))

DEFAULTS = dict(ready_delay=0.0, start_delay=0.0, job_duration=1.0, pull_backoff_after=1.0, pull_retry=3.0,
                log_interval=1.0, events=True, event_qps=25.0, event_burst=50)


class PodEntry:
    """The simulator's record of one pod (by uid): its PodState, the status last
    written, whether it finished, and the Events already recorded for it."""
    __slots__ = ("state", "written", "terminal", "events")

    def __init__(self, uid: str):
        self.state = PodState(uid)
        self.written = None
        self.terminal = False
        self.events: set = set()


class KubeletSim:
    """Simulated kubelet for ``nodes`` nodes. Tunables (plain attributes, may be
    changed while running): known_images, registry_checker, job_rule,
    ready_delay, start_delay, job_duration, pull_backoff_after, pull_retry,
    log_interval, events (post the kubelet's Events: Pulled, Created, Started,
    Failed, BackOff), event_qps/event_burst (like a kubelet's --event-qps:
    events queue up and are posted at that rate, at most EVENT_QUEUE wait and
    newer ones are dropped, so thousands of pods starting at once do not
    double the API server's work). Synthetic use: set_usage(), set_node_usage();
    read by usage(), pod_usage(), node_usage() and the metrics stand-in
    (start_metrics()). reset() restores the defaults and forgets the use set."""

    def __init__(self, api_url: str, token: str, ca_file: str, nodes: int = 3, node_ips: list[str] | None = None,
                 cert_file: str | None = None, key_file: str | None = None, capacity: dict | None = None,
                 workers: int = 16, heartbeat: float = 10.0, node_prefix: str = "node-",
                 labels: dict | None = None, **tunables):
        self.rest = Rest(api_url, token, ca_file, maxsize=max(32, workers * 2))
        self.node_names = [f"{node_prefix}{i + 1}" for i in range(nodes)]
        self.node_ips = dict(zip(self.node_names, node_ips or [f"127.0.0.{2 + i}" for i in range(nodes)], strict=False))
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
        self.states: dict[str, PodEntry] = {}
        self._crashes: dict[str, int] = {}     # pod uid -> restarts crash() asked for, not yet synced
        self._ip_lock = threading.Lock()
        self._ips = (str(ip) for ip in ipaddress.ip_network(POD_CIDR).hosts())
        self._free_ips: list[str] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._servers: list[KubeletServer] = []
        self.usage_rules = UsageRules()
        self.node_base: dict[str, Usage] = {}
        self.metrics_server: MetricsServer | None = None
        self._boot = time.time()
        self.stats = {"patches": 0, "deletes": 0, "errors": 0, "relists": 0, "events": 0, "events_dropped": 0}
        self._watch = PodWatch(self.rest, self._on_pod, self.cache, self.stats, self._stopping)
        self.synced = self._watch.synced
        self._poster = EventPoster(self.rest, self._stopping, self.stats,
                                   lambda: (self.event_qps, self.event_burst))

    # ---------------------------------------------------------------- configuration
    def reset(self):
        self.known_images = None
        self.registry_checker = None
        self.job_rule = default_job_rule
        for k, v in DEFAULTS.items():
            setattr(self, k, v)
        self.usage_rules.clear()
        self.node_base.clear()

    def image_exists(self, image: str) -> bool:
        if self.registry_checker is not None:
            try:
                return bool(self.registry_checker(image))
            except Exception:
                log.exception("registry checker failed for %s", image)
                return False
        if self.known_images is not None:
            known = {normalize_image(i) for i in self.known_images}
            return normalize_image(image) in known
        return True

    def _job_outcome(self, pod: dict):
        try:
            return self.job_rule(pod)
        except Exception:
            log.exception("job rule failed for %s/%s", pod["metadata"]["namespace"], pod["metadata"]["name"])
            return None

    def knobs(self) -> Knobs:
        """The tunables as the state machine takes them."""
        return Knobs(start_delay=self.start_delay, ready_delay=self.ready_delay, job_duration=self.job_duration,
                     pull_backoff_after=self.pull_backoff_after, pull_retry=self.pull_retry,
                     image_exists=self.image_exists, job_rule=self._job_outcome)

    def crash(self, namespace: str, pod: str) -> None:
        """The pod's containers exit with code 1 and the kubelet starts them again in place, as
        for restartPolicy Always: restartCount + 1, lastState terminated, the log rotated. Done
        by the pod's next sync (a worker; never two at once for one pod)."""
        obj = self.cache.get((namespace, pod))
        if obj is None:
            raise KeyError(f"no pod {namespace}/{pod} on this kubelet")
        with self._ip_lock:
            uid = obj["metadata"]["uid"]
            self._crashes[uid] = self._crashes.get(uid, 0) + 1
        self.queue.add((namespace, pod))

    def write_log(self, namespace: str, pod: str, container: str, text: str, previous: bool = False):
        """Append text (one line per \\n) to a container's log, as if it printed it."""
        self.logs.append((namespace, pod, container), text, previous=previous)

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        self._start_servers()
        for name in self.node_names:
            self._register_node(name)
        self._spawn(self._watch.run, "kubelet-sim-watch")
        for i in range(self.workers):
            self._spawn(self._worker, f"kubelet-sim-worker-{i}")
        self._spawn(self._heartbeat_loop, "kubelet-sim-heartbeat")
        self._spawn(self._log_ticker, "kubelet-sim-logs")
        self._spawn(self._poster.run, "kubelet-sim-events")
        if not self.synced.wait(30):
            raise RuntimeError("simulated kubelet could not list pods")
        return self

    def reconnect_watch(self, resource_version: str | None = None):
        """Drop the pod watch; it resumes from resource_version if given (a
        too old one makes the API server answer 410 Gone, and the kubelet
        relists), else from where it was."""
        self._watch.reconnect(resource_version)

    def stop(self, timeout: float = 5.0):
        self._stopping.set()
        self.queue.shutdown()
        self._watch.cut()
        with self.logs.cond:
            self.logs.cond.notify_all()
        self._poster.wake()
        for srv in self._servers + ([self.metrics_server] if self.metrics_server else []):
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
            srv = KubeletServer((ip, 0), self, name, ctx)
            self.ports[name] = srv.server_address[1]
            self._servers.append(srv)
            self._spawn(srv.serve_forever, f"kubelet-sim-http-{name}")

    def start_metrics(self, cert_file: str, key_file: str, client_ca_file: str,
                      allowed_names: tuple[str, ...]) -> int:
        """Serve metrics.k8s.io on 127.0.0.1 (metrics.py) to clients with a certificate of
        client_ca_file named in allowed_names (the API server's proxy client); returns the port."""
        self.metrics_server = MetricsServer(self, cert_file, key_file, client_ca_file, allowed_names)
        self._spawn(self.metrics_server.serve_forever, "kubelet-sim-metrics")
        return self.metrics_server.port

    # ---------------------------------------------------------------- synthetic use
    def set_usage(self, namespace: str | None, target=None, *, cpu=None, memory=None, reported: bool = True):
        """Each container of the pods target names in namespace (None: every namespace)
        uses cpu (cores: 0.7, "0.7" or "700m") and memory (bytes: an int or "128Mi") from
        now on. target: None (every pod), a pod's name, a label selector string
        ("hummer.io/app=web", "tier in (a,b)") or a dict of labels; a selector also
        covers the pods made later. reported=False: the metrics API leaves those pods
        out. Later calls win, field by field; the default is usage.DEFAULT_USAGE."""
        return self.usage_rules.set(namespace, target, cpu=cpu, memory=memory, reported=reported)

    def set_node_usage(self, node: str, cpu=None, memory=None):
        """What the node uses beside its pods (default NODE_BASE)."""
        base = self.node_base.get(node, NODE_BASE)
        self.node_base[node] = Usage(base.cpu if cpu is None else cpu_nanocores(cpu),
                                     base.memory if memory is None else memory_bytes(memory))

    def usage(self, namespace: str, name: str) -> dict[str, Usage] | None:
        """{container: Usage} of a pod whose containers run, or None (not running, gone,
        or not reported)."""
        pod = self.cache.get((namespace, name))
        entry = self.states.get(pod["metadata"]["uid"]) if pod is not None else None
        if entry is None or entry.state.running_since is None or entry.terminal:
            return None
        each = self.usage_rules.of(namespace, name, pod["metadata"].get("labels"))
        if each is None:
            return None
        return {c["name"]: each for c in pod["spec"]["containers"]}

    def pod_usage(self, namespace: str, name: str) -> Usage | None:
        """The pod's use: the sum of its containers'."""
        per_container = self.usage(namespace, name)
        return None if per_container is None else sum(per_container.values(), NO_USAGE)

    def node_usage(self, node: str) -> Usage:
        """The node's own use plus that of its reported pods."""
        total = self.node_base.get(node, NODE_BASE)
        for (ns, name), pod in list(self.cache.items()):
            if pod["spec"].get("nodeName") == node:
                total += self.pod_usage(ns, name) or NO_USAGE
        return total

    # ---------------------------------------------------------------- nodes
    def node_manifest(self, name: str) -> dict:
        return nodes.node_manifest(name, self.node_ips[name], self.ports[name], self.capacity, self.labels,
                                   time.time(), self._boot)

    def _register_node(self, name: str):
        nodes.register_node(self.rest, self.node_manifest(name))

    def _heartbeat_loop(self):
        while not self._stopping.wait(self.heartbeat):
            for name in self.node_names:
                if self._stopping.is_set():
                    return
                try:
                    nodes.heartbeat(self.rest, name, time.time(), self._boot)
                except ApiError as e:
                    if e.status == 404:  # somebody deleted the node: register it again
                        try:
                            self._register_node(name)
                        except Exception:
                            log.warning("could not re-register %s", name)
                except Exception:
                    if not self._stopping.is_set():
                        log.debug("heartbeat for %s failed", name, exc_info=True)

    # ---------------------------------------------------------------- pods
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
            entry = self.states.pop(m["uid"], None)
            if entry and entry.state.ip:
                with self._ip_lock:
                    self._free_ips.append(entry.state.ip)
            self.logs.drop_pod(*key)
            return
        self.cache[key] = pod
        self.queue.add(key)

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
        uid = pod["metadata"]["uid"]
        entry = self.states.get(uid)
        what = podstate.action(pod, seen=entry is not None, terminal=entry is not None and entry.terminal)
        if what == "delete":
            self._delete(pod)
            return
        if what == "ignore":
            return
        if entry is None:
            entry = self.states[uid] = PodEntry(uid)
        with self._ip_lock:
            crashes = self._crashes.pop(uid, 0)
        if crashes and entry.state.running_since is not None:
            entry.state = dataclasses.replace(entry.state, restarts=entry.state.restarts + crashes,
                                              last_restart=time.time())
            for c in pod["spec"]["containers"]:
                self.logs.rotate((key[0], key[1], c["name"]))
        step = podstate.step(pod, entry.state, time.time(), self.knobs(), self.node_ips[pod["spec"]["nodeName"]],
                             self._alloc_ip)
        entry.state = step.state
        ns, name = key
        for effect in step.logs:
            if isinstance(effect, podstate.Restart):
                self.logs.rotate((ns, name, effect.container))
            else:
                self.logs.next_generated((ns, name, effect.container), effect.text, effect.ts_ns)
        desired = step.status
        if desired != entry.written:
            try:
                self.rest.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": desired},
                                  content_type="application/merge-patch+json")
                self.stats["patches"] += 1
                entry.written = desired
                if self.events:
                    self._poster.record(pod, entry.events, desired)
                if step.terminal:
                    entry.terminal = True
                    for c in pod["spec"]["containers"]:
                        self.logs.end((ns, name, c["name"]))
            except ApiError as e:
                if e.status == 404:
                    return
                raise
        if step.requeue is not None and not entry.terminal:
            self.queue.add_after(key, step.requeue)

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

    # ---------------------------------------------------------------- logs
    def _log_error(self, ns: str, pod: str, container: str, previous: bool):
        """(code, message) like the kubelet's, or None when the log can be served."""
        obj = self.cache.get((ns, pod))
        if obj is None:
            return 404, f'pod "{pod}" in namespace "{ns}" not found'
        names = [c["name"] for c in (obj["spec"].get("initContainers") or []) + obj["spec"]["containers"]]
        if container not in names:
            return 400, f'container "{container}" in pod "{pod}" is not valid'
        log_entry = self.logs.get((ns, pod, container))
        if previous:
            if log_entry is None or log_entry.previous is None:
                return 400, f'previous terminated container "{container}" in pod "{pod}" not found'
            return None
        st = self.pod_state(ns, pod)
        if st is None or st.running_since is None:
            if log_entry is not None and log_entry.lines:
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
            for key, log_entry in followed:
                if log_entry is None or log_entry.ended:
                    continue
                pod = self.cache.get(key[:2])
                entry = self.states.get(pod["metadata"]["uid"]) if pod is not None else None
                if entry is None or entry.state.running_since is None or entry.terminal:
                    continue
                if log_entry.next_tick == 0.0:
                    log_entry.next_tick = now + self.log_interval
                elif now >= log_entry.next_tick:
                    log_entry.next_tick = now + self.log_interval
                    self.logs.next_generated(key, "still running")

    # ---------------------------------------------------------------- introspection
    def pod_state(self, namespace: str, name: str) -> PodState | None:
        pod = self.cache.get((namespace, name))
        entry = self.states.get(pod["metadata"]["uid"]) if pod else None
        return entry.state if entry else None

    def idle(self) -> bool:
        return len(self.queue) == 0
