"""App list and detail latency at scale, beside kubectl's time for the same data.

    python bench/app_list.py [--deployments 1000] [--replicas 10] [--requests 300] [--workers 2]

Starts a real test cluster (tests/support/kube_cluster.py), creates a project "bench"
through the portal's own provisioning and N Deployments x R pods in it, waits until
every pod is Running, then serves the portal with gunicorn on a free loopback port
(HUMMER_KUBECONFIG pointing at the cluster), logs in and prints:

  * p50/p99 of the app-list page (random pages) and of one app's detail page,
  * each gunicorn worker's RSS with everything cached,
  * the time of `kubectl get deploy,pods -n bench -o json` against the same API server.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402

from tests.support.kube_cluster import KubeCluster, free_port  # noqa: E402

PASSWORD = "bench-password-1"


def setup_portal(instance: Path, kubeconfig: str, project: str = "bench") -> str:
    """A migrated SQLite database with an admin 'bench', a default plan and the project
    (its namespace made by projects.provision). Returns the database URL."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db
    from portal.models import Membership, Project, ResourcePlan, User
    from portal.services import projects

    url = f"sqlite:///{instance / 'hummer.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance),
                      "SECRET_KEY": "bench", "KUBECONFIG": kubeconfig})
    with app.app_context():
        upgrade()
        user = User(username="bench", is_admin=True)
        user.set_password(PASSWORD)
        db.session.add(ResourcePlan(name="tiny", cpu_request="1m", memory_request="1Mi",
                                    cpu_limit="100m", memory_limit="64Mi", is_default=True))
        p = Project(name=project, display_name=project.capitalize())
        p.memberships.append(Membership(user=user, role="owner"))
        db.session.add_all([user, p])
        db.session.flush()
        projects.provision(p)
        db.session.commit()
        db.engine.dispose()
    return url


@contextmanager
def gunicorn(env: dict, workers: int, threads: int = 4):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--threads", str(threads), "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"gunicorn did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(base: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = s.post(base + "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    return s


def timed(session: requests.Session, url: str, n: int, check: str) -> list[float]:
    out = []
    for i in range(n):
        u = url(i) if callable(url) else url
        t0 = time.perf_counter()
        r = session.get(u)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200 and check in r.text, (u, r.status_code, r.text[:500])
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def create_deployments(kubeconfig: str, ns: str, count: int, replicas: int) -> None:
    from portal.adapters import kube as k
    from portal.adapters import kube_objects as objects

    kube = k.connect(kubeconfig)

    def one(i):
        spec = objects.AppSpec(name=f"app-{i:04d}", image="hummer/web", tag="1.0", replicas=replicas,
                               ports=[objects.PortSpec("http", "TCP", 8080, "internal")])
        kube.create("deployments", ns, objects.deployment(spec, ns), exist_ok=True)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(count)))


def count_running(cluster: KubeCluster, ns: str) -> int:
    from portal.adapters import kube as k
    kube = k.connect(str(cluster.kubeconfig))
    running, cont = 0, ""
    while True:
        q = {"limit": 2000, "fieldSelector": "status.phase=Running"}
        if cont:
            q["continue"] = cont
        page = kube.request("GET", f"/api/v1/namespaces/{ns}/pods", query=q, timeout=(3, 120))
        running += len(page["items"])
        cont = page["metadata"].get("continue")
        if not cont:
            return running


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--replicas", type=int, default=10)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--kubectl-runs", type=int, default=3)
    args = ap.parse_args()
    total = args.deployments * args.replicas
    ns = "bench"
    t0 = time.monotonic()
    cluster = KubeCluster(nodes=args.nodes, node_capacity={"pods": str(total // args.nodes + 200)},
                          kubelet_options={"log_interval": 3600.0, "events": False})
    cluster.start()
    try:
        with tempfile.TemporaryDirectory(prefix="hummer-bench-") as tmp:
            instance = Path(tmp)
            url = setup_portal(instance, str(cluster.kubeconfig), ns)
            while not cluster.service_account_ready(ns):
                time.sleep(0.1)
            print(f"cluster up in {time.monotonic() - t0:.1f} s; creating {args.deployments} Deployments "
                  f"x {args.replicas} pods ...", flush=True)
            t1 = time.monotonic()
            create_deployments(str(cluster.kubeconfig), ns, args.deployments, args.replicas)
            last = -1
            while True:
                running = count_running(cluster, ns)
                if running != last:
                    print(f"  {running}/{total} pods Running ({time.monotonic() - t1:.0f} s)", flush=True)
                    last = running
                if running >= total:
                    break
                time.sleep(5)
            print(f"all {total} pods Running after {time.monotonic() - t1:.1f} s", flush=True)

            kubectl = []
            for _ in range(args.kubectl_runs):
                t = time.perf_counter()
                out = subprocess.run([str(cluster.bin_dir / "kubectl"), f"--kubeconfig={cluster.kubeconfig}",
                                      "get", "deploy,pods", "-n", ns, "-o", "json"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
                kubectl.append((time.perf_counter() - t) * 1000)
            kubectl_ms = statistics.median(kubectl)
            print(f"kubectl get deploy,pods -n {ns} -o json: {kubectl_ms:.0f} ms "
                  f"(median of {args.kubectl_runs}; {len(out.stdout) / 1e6:.1f} MB)", flush=True)

            env = {"HUMMER_DATABASE_URL": url, "HUMMER_INSTANCE_PATH": str(instance),
                   "HUMMER_SECRET_KEY": "bench-secret-key-of-32-bytes-at-least",
                   "HUMMER_KUBECONFIG": str(cluster.kubeconfig),
                   "HUMMER_PAGE_SIZE": "20"}
            with gunicorn(env, args.workers) as (base, proc):
                s = login(base)
                t2 = time.monotonic()
                # warm every worker: its first list and detail requests list everything
                # (Deployments, then ReplicaSets, Pods, Services, HPAs) into its cache
                for _ in range(args.workers * 10):
                    r = s.get(f"{base}/projects/{ns}/apps")
                    assert r.status_code == 200 and "app-0000" in r.text, r.text[:500]
                    r = s.get(f"{base}/projects/{ns}/apps/app-0000")
                    assert r.status_code == 200 and "Pods" in r.text, r.text[:500]
                print(f"workers warmed (caches filled) in {time.monotonic() - t2:.1f} s", flush=True)
                pages = max(1, args.deployments // 20)
                rng = random.Random(4)
                listing = timed(s, lambda i: f"{base}/projects/{ns}/apps?page={rng.randint(1, pages)}",
                                args.requests, "app-")
                search = timed(s, f"{base}/projects/{ns}/apps?q=app-00", args.requests // 3, "app-00")
                detail = timed(s, lambda i: f"{base}/projects/{ns}/apps/app-{rng.randrange(args.deployments):04d}",
                               args.requests, "Pods")
                workers = psutil.Process(proc.pid).children()
                rss = [w.memory_info().rss / 2 ** 20 for w in workers]

            print()
            print(f"{args.deployments} Deployments, {total} pods, {args.workers} gunicorn workers x 4 threads")
            print(f"{'':32}{'p50 ms':>10}{'p99 ms':>10}")
            print(f"{'app list (page of 20)':32}{pct(listing, 50):>10.1f}{pct(listing, 99):>10.1f}")
            print(f"{'app list, filtered':32}{pct(search, 50):>10.1f}{pct(search, 99):>10.1f}")
            print(f"{'app detail':32}{pct(detail, 50):>10.1f}{pct(detail, 99):>10.1f}")
            print(f"{'kubectl get deploy,pods -o json':32}{kubectl_ms:>10.0f}")
            print(f"app list p99 / kubectl: {pct(listing, 99) / kubectl_ms:.3f}  (target <= 0.5; p99 target <= 100 ms)")
            print("worker RSS MB: " + ", ".join(f"{r:.0f}" for r in rss) + "  (target <= 200 each)")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
