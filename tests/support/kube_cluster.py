"""A real Kubernetes control plane on 127.0.0.1 for tests and local development.

Starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler (the
real binaries, built once by scripts/build-kube.sh) on free loopback ports in a
temporary directory, plus the simulated kubelet (tests/support/kubelet_sim/),
which is the only stand-in: it registers nodes and moves pods through their
lifecycle, serves their logs to the API server, and serves their synthetic CPU
and memory use as metrics.k8s.io through the API server's aggregation layer
(tests/support/aggregation.py), so the real HPA controller scales.

    cluster = KubeCluster(nodes=3).start()
    ...  # cluster.kubeconfig, cluster.api_url, cluster.token, cluster.api_client()
    cluster.stop()

Every daemon runs in its own session (process group); stop() terminates the
groups, waits for them and checks that no process of theirs is left.
"""
from __future__ import annotations

import atexit
import base64
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import aggregation
from tests.support.daemons import Daemon
from tests.support.kube_binaries import BUILD_SCRIPT as BUILD_SCRIPT  # noqa: F401 (re-exported for benches)
from tests.support.kube_binaries import ClusterError, find_bin_dir, find_etcd
from tests.support.kube_pki import ADMIN_USER, make_pki, write_kubeconfig
from tests.support.kube_pki import kubeconfig_dict as kubeconfig_dict  # noqa: F401 (re-exported)
from tests.support.processes import die_with_parent as _die_with_parent  # noqa: F401 (re-exported for tests and benches)
from tests.support.processes import free_port, pgroup_alive
from tests.support.waiting import wait_for

SERVICE_CIDR = "10.0.1.0/24"
POD_CIDR = "172.16.0.0/16"


# --------------------------------------------------------------------------- helpers

OWNER_FILE = "hummer-owner.pid"


def sweep_stale_dirs(min_age: float = 60.0):
    """Remove temp dirs of clusters whose owning process died without stop()
    (e.g. a killed test run): etcd data lives in /dev/shm, i.e. in memory."""
    now = time.time()
    for pattern_dir, prefix in ((Path("/dev/shm"), "hummer-etcd-"), (Path(tempfile.gettempdir()), "hummer-kube-")):
        try:
            candidates = [p for p in pattern_dir.iterdir() if p.name.startswith(prefix) and p.is_dir()]
        except OSError:
            continue
        for d in candidates:
            try:
                owner = int((d / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue  # kept on purpose, or not ours
            if Path(f"/proc/{owner}").exists() or now - d.stat().st_mtime < min_age:
                continue
            shutil.rmtree(d, ignore_errors=True)




def rfc3339(ts: float | None = None) -> str:
    t = datetime.datetime.fromtimestamp(time.time() if ts is None else ts, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- the cluster

class KubeCluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + simulated kubelet.

    Attributes after start(): api_url, token, kubeconfig (path), ca_file (path),
    bin_dir, workdir, ports (dict), pids (dict name -> pid), kubelet (KubeletSim).
    """

    def __init__(self, nodes: int = 3, bin_dir=None, workdir=None, node_capacity: dict | None = None,
                 kubelet: bool = True, keep_workdir: bool = False, die_with_parent: bool = True,
                 verbosity: int = 0, name: str = "hummer-test", kubelet_options: dict | None = None):
        self.nodes = nodes
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self._workdir_arg = workdir
        self.node_capacity = node_capacity
        self.want_kubelet = kubelet
        self.kubelet_options = kubelet_options or {}
        self.keep_workdir = keep_workdir
        self.die_with_parent = die_with_parent
        self.verbosity = verbosity
        self.name = name
        self.daemons: dict[str, Daemon] = {}
        self.ports: dict[str, int] = {}
        self.kubelet = None
        self.workdir: Path | None = None
        self.etcd_dir: Path | None = None
        self.kubeconfig: Path | None = None
        self.api_url = ""
        self.token = ""
        self.ca_file: Path | None = None
        self.timings: dict[str, float] = {}
        self._stopped = False
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle
    @property
    def pids(self) -> dict[str, int]:
        return {n: d.pid for n, d in self.daemons.items()}

    def start(self, timeout: float = 120.0) -> "KubeCluster":
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            self._start(deadline, t0)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, deadline: float, t0: float):
        if self.bin_dir is None:
            self.bin_dir = find_bin_dir()
        etcd = find_etcd()
        sweep_stale_dirs()
        if self._workdir_arg:
            self.workdir = Path(self._workdir_arg)
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="hummer-kube-"))
        (self.workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        # etcd fsyncs a lot; on tmpfs that costs nothing (etcd 3.4 has no --unsafe-no-fsync).
        shm = Path("/dev/shm")
        if not self.keep_workdir and shm.is_dir() and os.access(shm, os.W_OK):
            self.etcd_dir = Path(tempfile.mkdtemp(prefix="hummer-etcd-", dir=shm))
            (self.etcd_dir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        else:
            self.etcd_dir = self.workdir / "etcd"
        atexit.register(self.stop)

        node_ips = [f"127.0.0.{2 + i}" for i in range(self.nodes)]
        if self.nodes > 250:
            raise ClusterError("at most 250 simulated nodes (one loopback address each)")
        pki = make_pki(self.workdir, node_ips, str(next(ipaddress.ip_network(SERVICE_CIDR).hosts())))
        self.pki = pki
        self.ca_file = pki["ca"]
        self.token = base64.b32encode(os.urandom(20)).decode().lower()
        (self.workdir / "tokens.csv").write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        (self.workdir / "tokens.csv").chmod(0o600)

        for k in ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler"):
            self.ports[k] = free_port()
        self.api_url = f"https://127.0.0.1:{self.ports['apiserver']}"
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.api_url, self.token,
                                           pki["ca"].read_bytes(), self.name)
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        v = str(self.verbosity)

        etcd_url = f"http://127.0.0.1:{self.ports['etcd']}"
        peer_url = f"http://127.0.0.1:{self.ports['etcd_peer']}"
        self._spawn("etcd", [
            etcd, "--name=hummer", f"--data-dir={self.etcd_dir}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=hummer={peer_url}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr", "--log-level=warn",
            "--snapshot-count=100000", "--quota-backend-bytes=8589934592",
        ], logs)
        self._wait("etcd", deadline, lambda: self._http_ok(f"{etcd_url}/health", want=b'"health":"true"'))
        self.timings["etcd"] = time.monotonic() - t0

        self._spawn("kube-apiserver", [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}", "--insecure-port=0",
            f"--tls-cert-file={pki['apiserver_crt']}", f"--tls-private-key-file={pki['apiserver_key']}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            f"--service-account-key-file={pki['sa_pub']}",
            f"--service-account-signing-key-file={pki['sa_key']}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # The node-lifecycle controller is off, so nothing would lift the
            # not-ready taint this plugin puts on new nodes.
            "--disable-admission-plugins=TaintNodesByCondition",
            # Never resolve node names: the simulated kubelets listen on 127.0.0.x.
            "--kubelet-preferred-address-types=InternalIP",
            # The lease reconciler would publish 127.0.0.1 into default/kubernetes,
            # which endpoint validation refuses (loopback).
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
            "--profiling=false", f"--v={v}",
            # The aggregation layer, for the metrics stand-in (aggregation.py).
            *aggregation.apiserver_flags(pki),
        ], logs)
        self._wait("kube-apiserver", deadline, self.readyz)
        self.timings["apiserver"] = time.monotonic() - t0

        if self.want_kubelet:
            from tests.support.kubelet_sim import KubeletSim
            opts = dict(self.kubelet_options)
            if self.node_capacity:
                opts["capacity"] = self.node_capacity
            self.kubelet = KubeletSim(self.api_url, self.token, str(self.ca_file),
                                      nodes=self.nodes, node_ips=node_ips,
                                      cert_file=str(pki["kubelet_crt"]), key_file=str(pki["kubelet_key"]),
                                      **opts)
            # The metrics stand-in (the kubelet's synthetic usage as metrics.k8s.io), registered
            # before the controller-manager starts: its controllers' first discovery then finds
            # the group served, not only listed.
            port = self.kubelet.start_metrics(str(pki["metrics_crt"]), str(pki["metrics_key"]),
                                              str(pki["front_proxy_ca"]), (aggregation.FRONT_PROXY_CLIENT,))
            self._wait("the metrics API registered", deadline,
                       lambda: aggregation.register_metrics_api(self.kubelet.rest, etcd_url, port) or True)
            self.timings["metrics_registered"] = time.monotonic() - t0

        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false",
                  "--kube-api-qps=1000", "--kube-api-burst=2000",
                  f"--authentication-kubeconfig={self.kubeconfig}",
                  f"--authorization-kubeconfig={self.kubeconfig}",
                  # They serve only /healthz here: don't look for the client CA and the
                  # front proxy's (the aggregation layer's) in kube-system's configmap.
                  "--authentication-skip-lookup=true",
                  "--bind-address=127.0.0.1", "--port=0", "--profiling=false", f"--v={v}"]
        self._spawn("kube-controller-manager", [
            str(self.bin_dir / "kube-controller-manager"), *common,
            f"--secure-port={self.ports['controller_manager']}",
            f"--cert-dir={self.workdir / 'certs-cm'}",
            "--controllers=*,-nodelifecycle,-csrsigning",
            f"--service-account-private-key-file={pki['sa_key']}",
            f"--root-ca-file={pki['ca']}",
            "--use-service-account-credentials=false",
            f"--cluster-cidr={POD_CIDR}", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--concurrent-replicaset-syncs=20", "--concurrent-deployment-syncs=20",
            "--concurrent-endpoint-syncs=20", "--concurrent-service-endpoint-syncs=20",
            "--concurrent-gc-syncs=40", "--concurrent-namespace-syncs=10",
            "--concurrent-serviceaccount-token-syncs=10",
            "--node-monitor-period=5s",
            # Bind PersistentVolumes promptly (the default resync is 15 s).
            "--pvclaimbinder-sync-period=1s",
            # Autoscale within seconds (defaults: 15 s, 5 min). In its first 10 s (default
            # 5 min) a pod's CPU counts once it is Ready and the metrics' window (1 s) has
            # passed since; later, a pod not Ready counts only if it was Ready once (its last
            # transition came more than 5 s after its start; default 30 s).
            "--horizontal-pod-autoscaler-sync-period=2s",
            "--horizontal-pod-autoscaler-downscale-stabilization=5s",
            "--horizontal-pod-autoscaler-cpu-initialization-period=10s",
            "--horizontal-pod-autoscaler-initial-readiness-delay=5s",
        ], logs)
        self._spawn("kube-scheduler", [
            str(self.bin_dir / "kube-scheduler"), *common,
            f"--secure-port={self.ports['scheduler']}",
            f"--cert-dir={self.workdir / 'certs-sched'}",
        ], logs)

        if self.kubelet:
            self.kubelet.start()
        self._wait("kube-controller-manager", deadline,
                   lambda: self._http_ok(f"https://127.0.0.1:{self.ports['controller_manager']}/healthz"))
        self._wait("kube-scheduler", deadline,
                   lambda: self._http_ok(f"https://127.0.0.1:{self.ports['scheduler']}/healthz"))
        self._wait("default ServiceAccount token", deadline, lambda: self.service_account_ready("default"))
        if self.kubelet:
            self._wait("nodes Ready", deadline, self.nodes_ready)
            self.timings["nodes"] = time.monotonic() - t0
            self._wait("the metrics APIService Available", deadline, lambda: aggregation.available(self.get_json))
            self.timings["metrics"] = time.monotonic() - t0
        self.timings["ready"] = time.monotonic() - t0

    def _spawn(self, name: str, argv: list[str], logs: Path):
        self.daemons[name] = Daemon(name, argv, logs / f"{name}.log", die_with_parent=self.die_with_parent,
                                    error=ClusterError)

    def _wait(self, what: str, deadline: float, probe, interval: float = 0.1):
        def ready():
            for d in self.daemons.values():
                d.check()  # a daemon that exited ends the wait with its log
            try:
                return probe()
            except Exception:  # not answering yet
                return False
        try:
            wait_for(ready, timeout=max(0.0, deadline - time.monotonic()), interval=interval, what=what)
        except AssertionError:
            logs = "\n".join(f"--- {d.name}\n{d.tail()}" for d in self.daemons.values())
            raise ClusterError(f"timed out waiting for {what}\n{logs}") from None

    def stop(self, grace: float = 5.0) -> dict[str, int]:
        """Stop everything; returns {name: pid} of what was stopped. Idempotent.
        Each daemon gets SIGTERM, then SIGKILL after grace seconds."""
        with self._lock:
            if self._stopped:
                return {}
            self._stopped = True
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        pids = self.pids
        if self.kubelet:
            try:
                self.kubelet.stop()
            except Exception:
                pass
        # Clients first, the store last.
        order = ["kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
        daemons = [self.daemons[n] for n in order if n in self.daemons]
        # The API server's graceful stop waits up to 60 s for open watches
        # (e.g. a test's own); etcd is only stopped once the API server is gone.
        self._terminate(daemons[:-1], grace)
        self._terminate(daemons[-1:], grace)
        if not self.keep_workdir:
            for p in (self.etcd_dir, None if self._workdir_arg else self.workdir):
                if p:
                    shutil.rmtree(p, ignore_errors=True)
        elif self.workdir:
            try:
                (self.workdir / OWNER_FILE).unlink()  # kept on purpose: never swept
            except OSError:
                pass
        return pids

    def restart_apiserver(self, grace: float = 2.0, timeout: float = 60.0):
        """Stop kube-apiserver and start it again with the same flags and port
        (clients reconnect; watches resuming from before get 410 Gone). A
        graceful stop waits up to 60 s for open watches, so after grace
        seconds it is killed."""
        old = self.daemons["kube-apiserver"]
        self._terminate([old], grace)
        self.daemons["kube-apiserver"] = Daemon(old.name, old.argv, old.log_path,
                                                die_with_parent=self.die_with_parent, error=ClusterError)
        self._wait("kube-apiserver", time.monotonic() + timeout, self.readyz)

    @staticmethod
    def _terminate(daemons: list, grace: float):
        """SIGTERM the process groups, SIGKILL what is still there after grace
        seconds, reap, and make sure nothing of theirs is left."""
        for d in daemons:
            d.terminate()
        end = time.monotonic() + grace
        for d in daemons:
            try:
                d.proc.wait(max(0.05, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                d.kill()
                d.proc.wait(10)
        for d in daemons:
            t = time.monotonic() + 5
            while pgroup_alive(d.pid):
                if time.monotonic() > t:
                    d.kill()
                    time.sleep(0.2)
                    break
                time.sleep(0.05)
            d.close()

    def leftovers(self) -> list[int]:
        """pids (process groups) of this cluster that are still alive."""
        return [d.pid for d in self.daemons.values() if pgroup_alive(d.pid)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- probes & clients
    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return ctx

    def _http_ok(self, url: str, want: bytes | None = None, auth: bool = False) -> bool:
        req = urllib.request.Request(url)
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        ctx = None
        if url.startswith("https://"):
            if ":%d" % self.ports.get("apiserver", -1) in url:
                ctx = self._ssl_context()
            else:  # controller-manager/scheduler serve self-signed certs
                ctx = ssl._create_unverified_context()
        try:
            with urllib.request.urlopen(req, timeout=2, context=ctx) as r:
                body = r.read()
                return r.status == 200 and (want is None or want in body)
        except (urllib.error.URLError, OSError):
            return False

    def readyz(self) -> bool:
        return self._http_ok(f"{self.api_url}/readyz", want=b"ok", auth=True)

    def get_json(self, path: str, timeout: float = 5):
        req = urllib.request.Request(self.api_url + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl_context()) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def service_account_ready(self, namespace: str, name: str = "default") -> bool:
        """True when the ServiceAccount exists and has its token secret (1.20's
        ServiceAccount admission refuses pods until it does)."""
        sa = self.get_json(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        return bool(sa and sa.get("secrets"))

    def nodes_ready(self) -> bool:
        nodes = (self.get_json("/api/v1/nodes") or {}).get("items", [])
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n.get("status", {}).get("conditions", []))]
        return len(ready) >= self.nodes

    def configuration(self):
        from kubernetes import client
        cfg = client.Configuration()
        cfg.host = self.api_url
        cfg.ssl_ca_cert = str(self.ca_file)
        cfg.verify_ssl = True
        cfg.api_key = {"authorization": self.token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        cfg.connection_pool_maxsize = 32
        return cfg

    def api_client(self):
        from kubernetes import client
        return client.ApiClient(self.configuration())

    def kubectl(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
                              check=check, capture_output=True, text=True, **kw)
