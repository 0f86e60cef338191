"""App list, detail and events latency at scale, on every gunicorn worker, beside kubectl.

    python bench/app_list.py [--deployments 1000] [--pods-per-deployment 10] [--requests 300]
                             [--workers 2] [--threads 4] [--clients 8]

Starts a real test cluster (tests/support/kube_cluster.py). The portal is made and driven
from outside only (bench/_portal.py): `flask db upgrade` and `create-admin`, then gunicorn
(tests/support/live_portal.py, with HUMMER_KUBECONFIG pointing at the cluster), a plan and a
project "bench" made through HTTP, and the N apps x P pods deployed through the deploy form.
When every pod is Ready, that gunicorn is stopped and a fresh one started, and it prints:

  * each worker's first answers after the start (a list and a detail page each): what
    the first users after a restart or a deploy of the portal get;
  * p50/p99 of the app list (random pages and filtered), one app's page, its status
    fragment (the 2 s poll) and its events fragment (the 10 s poll), with a NEW connection
    per request, so that the kernel hands requests to every worker (the access log says
    which worker answered which request: each worker's p99 is shown);
  * the same pages under --clients concurrent clients;
  * each worker's RSS with its caches full;
  * the first answers of a fresh worker started while the others run (one worker is
    stopped with SIGTERM; the gunicorn master forks its replacement);
  * kubectl beside them, against the same API server: `kubectl get deploy -n NS`, the
    label-selected `kubectl get deploy,rs,pods,svc,hpa -l <app's selector>` of one app, and
    the heaviest possible call, `kubectl get deploy,pods -n NS -o json`.

The simulated kubelet posts no Events here (its events knob is off, so that posting them
does not load the API server while the bench times); the controllers' Events
(ScalingReplicaSet, SuccessfulCreate) are there as in any cluster.
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._portal import (  # noqa: E402
    access_log,
    admin_with_project,
    login,
    new_connection_session,
    pct,
    portal,
    prepare_database,
    timed_get,
    token_of,
    wait_for,
)
from tests.support.kube_cluster import KubeCluster  # noqa: E402

NS = "bench"


# The test cluster's service range is the guide's 10.0.1.0/24: about 250 Services fit. The
# first WITH_SERVICE apps get a port (and so a Service); the others none, so that 1,000 and
# more apps fit in the range.
WITH_SERVICE = 200


def app_form(name: str, replicas: int) -> dict:
    form = {"name": name, "image": "hummer/web", "tag": "1.0", "replicas": str(replicas), "plan": "tiny",
            "liveness-kind": "none", "op": "deploy", "readiness-kind": "none"}
    if int(name.rsplit("-", 1)[1]) < WITH_SERVICE:
        form.update({"ports-0-name": "http", "ports-0-protocol": "TCP", "ports-0-container_port": "8080",
                     "ports-0-exposure": "internal", "readiness-kind": "http", "readiness-path": "/",
                     "readiness-port": "8080"})
    return form


def page_text(html_text: str) -> str:
    """What a person reads on an error page: the text of <main>, without the markup."""
    main = re.search(r"<main\b.*?</main>", html_text, re.S)
    text = re.sub(r"<[^>]+>", " ", main.group(0) if main else html_text)
    return " ".join(unescape(text).split())


def deploy_all(admin, names: list[str], replicas: int, parallel: int = 8) -> None:
    """Every app through the portal's deploy form, `parallel` at a time."""
    new = f"/projects/{NS}/apps/new"
    token = token_of(admin, new)
    local = threading.local()

    def one(name: str):
        if not hasattr(local, "s"):
            local.s = new_connection_session(admin)
            local.s.headers.pop("Connection")  # setup: keep-alive is fine
        r = local.s.post(admin.base + new, data={**app_form(name, replicas), "csrf_token": token},
                         allow_redirects=False, timeout=120)
        if r.status_code != 302:
            raise SystemExit(f"deploy of {name}: {r.status_code} {page_text(r.text)[-1500:]}")
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, names))


def ready_pods(cluster: KubeCluster) -> int:
    ready, cont = 0, ""
    while True:
        q = "?limit=500" + (f"&continue={quote(cont, safe='')}" if cont else "")
        # A busy API server (tens of thousands of pods being created) may take long to list.
        page = cluster.get_json(f"/apis/apps/v1/namespaces/{NS}/deployments{q}", timeout=120)
        ready += sum((d.get("status") or {}).get("readyReplicas") or 0 for d in page["items"])
        cont = page["metadata"].get("continue")
        if not cont:
            return ready


def workers_of(master: int) -> list[int]:
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Probe:
    """Requests tagged with a sequence number (?_n=N), so that the access log tells which worker
    answered each; every request opens a new connection."""

    def __init__(self, p, admin):
        self.p, self.admin = p, admin
        self.seq = itertools.count()
        self.lock = threading.Lock()
        self.sent: dict[int, tuple[str, float]] = {}  # n -> (kind, client ms)

    def get(self, session, kind: str, path: str, check: str, fragment: str | None = None) -> float:
        with self.lock:
            n = next(self.seq)
        sep = "&" if "?" in path else "?"
        headers = {"HX-Request": "true", "HX-Target": fragment} if fragment else None
        ms, r = timed_get(session, f"{self.p.base}{path}{sep}_n={n}", headers)
        if r.status_code != 200 or check not in r.text:
            raise SystemExit(f"{kind} {path}: {r.status_code} {r.text[:800]}")
        with self.lock:
            self.sent[n] = (kind, ms)
        return ms

    def by_worker(self, since: int = 0) -> dict[int, list[tuple[str, float]]]:
        """worker pid -> [(kind, client ms)] of the requests numbered `since` and later, in order."""
        last = max(self.sent, default=-1)
        if last < since:
            return {}

        def logged():
            seen = {}
            for pid, _status, _ms, _method, path in access_log(self.p.log_path):
                if "_n=" in path:
                    seen[int(path.rsplit("_n=", 1)[1].split("&")[0])] = pid
            return seen if last in seen else None
        seen = wait_for(logged, timeout=30, interval=0.05, what="gunicorn's access log")
        out: dict[int, list] = defaultdict(list)
        for n in sorted(self.sent):
            if n >= since and n in seen:
                out[seen[n]].append(self.sent[n])
        return out


def pages(args, names: list[str], rng: random.Random):
    """kind -> (path maker, text the answer holds, fragment target)."""
    per_page = 20
    count = max(1, -(-len(names) // per_page))
    return {
        "app list (page of 20)": (lambda: f"/projects/{NS}/apps?page={rng.randint(1, count)}", "app-", None),
        "app list, filtered": (lambda: f"/projects/{NS}/apps?q={names[0][:-2]}", names[0][:-2], None),
        "app page": (lambda: f"/projects/{NS}/apps/{rng.choice(names)}", "Pods", None),
        "status fragment (2 s poll)": (lambda: f"/projects/{NS}/apps/{rng.choice(names)}", 'id="app-status"',
                                       "app-status"),
        "events fragment (10 s poll)": (lambda: f"/projects/{NS}/apps/{rng.choice(names)}/events", "", "app-events"),
    }


def first_answers(probe: Probe, session, names, want: set[int], limit: int = 400) -> dict[int, dict[str, float]]:
    """Alternate list and app pages (new connections) until every worker in `want` has answered
    one of each; returns worker -> {"list": ms, "app": ms} of its first answers."""
    since = max(probe.sent, default=-1) + 1
    firsts: dict[int, dict[str, float]] = {}
    for i in range(limit):
        if i % 2 == 0:
            probe.get(session, "list", f"/projects/{NS}/apps", "app-")
        else:
            probe.get(session, "app", f"/projects/{NS}/apps/{names[i % len(names)]}", "Pods")
        if i % 2:
            firsts = {}
            for pid, answers in probe.by_worker(since).items():
                for kind, ms in answers:
                    firsts.setdefault(pid, {}).setdefault(kind, ms)
            if all(len(firsts.get(pid, {})) == 2 for pid in want):
                break
    return firsts


def kubectl_ms(cluster: KubeCluster, runs: int, *argv: str) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", *argv],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        times.append((time.perf_counter() - t) * 1000)
        size = len(out.stdout)
    return statistics.median(times), size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--pods-per-deployment", "--replicas", dest="pods", type=int, default=10)
    ap.add_argument("--requests", type=int, default=300, help="timed requests per page kind")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients of the concurrent round")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--kubectl-runs", type=int, default=3)
    args = ap.parse_args()
    total = args.deployments * args.pods
    width = max(4, len(str(args.deployments - 1)))
    names = [f"app-{i:0{width}d}" for i in range(args.deployments)]
    t0 = time.monotonic()
    cluster = KubeCluster(nodes=args.nodes, node_capacity={"pods": str(total // args.nodes + 200)},
                          kubelet_options={"log_interval": 3600.0, "events": False})
    cluster.start()
    try:
        with tempfile.TemporaryDirectory(prefix="hummer-bench-") as tmp:
            tmp = Path(tmp)
            url = f"sqlite:///{tmp / 'hummer.db'}"
            prepare_database(url, tmp)
            settings = {"KUBECONFIG": str(cluster.kubeconfig), "PAGE_SIZE": "20",
                        "LOGIN_RATE_LIMIT": "", "ANONYMOUS_RATE_LIMIT": ""}
            with portal(url, tmp, args.workers, args.threads, **settings) as p:
                admin = admin_with_project(p.base, cluster, NS)
                print(f"cluster and portal up in {time.monotonic() - t0:.1f} s; deploying {args.deployments} "
                      f"apps x {args.pods} pods through the deploy form ...", flush=True)
                t1 = time.monotonic()
                deploy_all(admin, names, args.pods)
                print(f"  {args.deployments} apps deployed in {time.monotonic() - t1:.1f} s", flush=True)
            last = -1
            while True:  # a progress report, not a fixed wait
                ready = ready_pods(cluster)
                if ready != last:
                    print(f"  {ready}/{total} pods Ready ({time.monotonic() - t1:.0f} s)", flush=True)
                    last = ready
                if ready >= total:
                    break
                time.sleep(5)
            print(f"all {total} pods Ready after {time.monotonic() - t1:.1f} s", flush=True)

            selector = ",".join(f"{k}={v}" for k, v in cluster.get_json(
                f"/apis/apps/v1/namespaces/{NS}/deployments/{names[0]}")["spec"]["selector"]["matchLabels"].items())
            kubectl = [
                (f"kubectl get deploy -n {NS}", *kubectl_ms(cluster, args.kubectl_runs, "get", "deploy", "-n", NS)),
                ("kubectl get deploy,rs,pods,svc,hpa -l (one app)", *kubectl_ms(
                    cluster, args.kubectl_runs, "get", "deploy,rs,pods,svc,hpa", "-n", NS, "-l", selector)),
                ("kubectl get deploy,pods -o json", *kubectl_ms(
                    cluster, args.kubectl_runs, "get", "deploy,pods", "-n", NS, "-o", "json")),
            ]
            for what, ms, size in kubectl:
                print(f"{what}: {ms:.0f} ms (median of {args.kubectl_runs}; {size / 1e6:.2f} MB)", flush=True)

            # A fresh gunicorn on the same database: its workers' first answers.
            with portal(url, tmp, args.workers, args.threads, access_log=True, **settings) as p:
                admin = login(p.base)
                session = new_connection_session(admin)
                probe = Probe(p, admin)
                started = set(workers_of(p.proc.pid))
                t2 = time.monotonic()
                cold = first_answers(probe, session, names, started)
                print(f"every worker answered a list and an app page {time.monotonic() - t2:.1f} s after "
                      "gunicorn answered /healthz", flush=True)

                # Warm: every worker serves each page kind a few times (its caches full).
                rng = random.Random(4)
                kinds = pages(args, names, rng)
                since = max(probe.sent) + 1

                def warm_enough():
                    for kind, (path, check, fragment) in kinds.items():
                        probe.get(session, kind, path(), check, fragment)
                    served = probe.by_worker(since)
                    return all(len(served.get(pid, [])) >= 3 * len(kinds) for pid in workers_of(p.proc.pid))
                wait_for(warm_enough, timeout=600, interval=0, what="every worker to serve every page")

                # Sequential, one new connection per request.
                since = max(probe.sent) + 1
                for _ in range(args.requests):
                    for kind, (path, check, fragment) in kinds.items():
                        probe.get(session, kind, path(), check, fragment)
                sequential = probe.by_worker(since)

                # Concurrent clients, each on new connections.
                since = max(probe.sent) + 1
                per_client = max(10, args.requests // args.clients)

                def client(i: int):
                    s, local = new_connection_session(admin), random.Random(i)
                    mine = pages(args, names, local)
                    for _ in range(per_client):
                        for kind, (path, check, fragment) in mine.items():
                            probe.get(s, kind, path(), check, fragment)
                tc = time.monotonic()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(client, range(args.clients)))
                concurrent_s = time.monotonic() - tc
                concurrent = probe.by_worker(since)
                rss = {pid: rss_mb(pid) for pid in workers_of(p.proc.pid)}

                # A fresh worker beside warm ones: stop one, the master forks its replacement.
                victim = sorted(rss)[0]
                os.kill(victim, signal.SIGTERM)
                fresh = wait_for(lambda: set(workers_of(p.proc.pid)) - set(rss), 60, 0.05,
                                 "gunicorn to fork a new worker")
                t3 = time.monotonic()
                replaced = first_answers(probe, session, names, fresh)
                replaced_s = time.monotonic() - t3

        print()
        print(f"{args.deployments} apps, {total} pods, {args.nodes} nodes; gunicorn {args.workers} workers x "
              f"{args.threads} threads; a new connection per request")
        print()
        print("first answers of each worker of a fresh gunicorn (ms):")
        for pid in sorted(started):
            c = cold.get(pid, {})
            print(f"  worker {pid}: list {c.get('list', float('nan')):.0f}, app page {c.get('app', float('nan')):.0f}")
        print(f"first answers of a worker forked while the others run warm ({replaced_s:.1f} s to reach it):")
        for pid in sorted(fresh):
            c = replaced.get(pid, {})
            print(f"  worker {pid}: list {c.get('list', float('nan')):.0f}, app page {c.get('app', float('nan')):.0f}")

        def table(title: str, served: dict[int, list]):
            print()
            print(title)
            pids = sorted(served)
            head = "".join(f"{'p99 ' + str(pid):>13}" for pid in pids)
            print(f"{'':30}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{head}")
            for kind in kinds:
                every = [ms for pid in pids for k, ms in served[pid] if k == kind]
                if not every:
                    continue
                each = "".join(f"{pct([ms for k, ms in served[pid] if k == kind] or [float('nan')], 99):>13.1f}"
                               for pid in pids)
                print(f"{kind:30}{len(every):>6}{pct(every, 50):>9.1f}{pct(every, 99):>9.1f}{each}")

        table("one client (p99 per worker: the worker's pid)", sequential)
        n = sum(len(v) for v in concurrent.values())
        table(f"{args.clients} concurrent clients ({n / concurrent_s:.0f} requests/s)", concurrent)
        print()
        print("kubectl against the same API server (median):")
        for what, ms, size in kubectl:
            print(f"  {what:48}{ms:>8.0f} ms  ({size / 1e6:.2f} MB)")
        list_p99 = pct([ms for v in sequential.values() for k, ms in v if k == "app list (page of 20)"], 99)
        app_p99 = pct([ms for v in sequential.values() for k, ms in v if k == "app page"], 99)
        print(f"app list p99 {list_p99:.1f} ms vs `kubectl get deploy` {kubectl[0][1]:.0f} ms; "
              f"app page p99 {app_p99:.1f} ms vs the label-selected get {kubectl[1][1]:.0f} ms")
        print("worker RSS MB with caches full: " + ", ".join(f"{pid}: {mb:.0f}" for pid, mb in sorted(rss.items())))
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
