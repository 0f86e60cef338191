"""Deploy latency: submitting the portal's deploy form until all replicas are Ready,
beside `kubectl apply -f` of the same YAML plus `kubectl rollout status`.

    python bench/deploy.py [--replicas 5] [--runs 5]

The YAML kubectl applies is the one the portal's "Show YAML" printed for the same form
(in a second namespace), so both sides create exactly the same objects.
"""
from __future__ import annotations

import argparse
import html
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.app_list import gunicorn, login, setup_portal  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402


def form(name: str, replicas: int, op: str = "deploy") -> dict:
    return {"name": name, "image": "hummer/web", "tag": "1.0", "replicas": str(replicas), "plan": "tiny",
            "ports-0-name": "http", "ports-0-protocol": "TCP", "ports-0-container_port": "8080",
            "ports-0-exposure": "internal", "readiness-kind": "http", "readiness-path": "/",
            "readiness-port": "8080", "liveness-kind": "none", "op": op}


def all_ready(cluster: KubeCluster, ns: str, name: str, replicas: int) -> bool:
    d = cluster.get_json(f"/apis/apps/v1/namespaces/{ns}/deployments/{name}") or {}
    s = d.get("status", {})
    return (s.get("readyReplicas") == replicas and s.get("updatedReplicas") == replicas
            and s.get("observedGeneration", 0) >= d.get("metadata", {}).get("generation", 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cluster = KubeCluster(nodes=3).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hummer-bench-") as tmp:
            instance = Path(tmp)
            url = setup_portal(instance, str(cluster.kubeconfig), "portal")
            setup_portal_ns = "kubectl-side"
            cluster.kubectl("create", "namespace", setup_portal_ns)
            for ns in ("portal", setup_portal_ns):
                while not cluster.service_account_ready(ns):
                    time.sleep(0.1)
            env = {"HUMMER_DATABASE_URL": url, "HUMMER_INSTANCE_PATH": str(instance),
                   "HUMMER_SECRET_KEY": "bench-secret-key-of-32-bytes-at-least",
                   "HUMMER_KUBECONFIG": str(cluster.kubeconfig)}
            portal_times, kubectl_times = [], []
            with gunicorn(env, 2) as (base, _):
                s = login(base)
                new = f"{base}/projects/portal/apps/new"
                token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', s.get(new).text).group(1)
                s.get(f"{base}/projects/portal/apps")  # fill the worker's cache first
                for run in range(args.runs):
                    name = f"web-{run}"
                    # the YAML the portal would send, for kubectl, in its own namespace
                    page = s.post(new, data={**form(name, args.replicas, "yaml"), "csrf_token": token}).text
                    yaml_text = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1))
                    yaml_text = yaml_text.replace("namespace: portal", f"namespace: {setup_portal_ns}")

                    t0 = time.perf_counter()
                    r = s.post(new, data={**form(name, args.replicas), "csrf_token": token}, allow_redirects=False)
                    assert r.status_code == 302, r.text[:1000]
                    while not all_ready(cluster, "portal", name, args.replicas):
                        time.sleep(0.02)
                    portal_times.append(time.perf_counter() - t0)

                    t0 = time.perf_counter()
                    cluster.kubectl("apply", "-f", "-", input=yaml_text)
                    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", setup_portal_ns,
                                    "--timeout=120s")
                    kubectl_times.append(time.perf_counter() - t0)
                    print(f"run {run}: portal {portal_times[-1]:.2f} s, kubectl {kubectl_times[-1]:.2f} s",
                          flush=True)
            print()
            print(f"deploy of {args.replicas} replicas until all Ready, {args.runs} runs (median / max):")
            print(f"  portal form submit -> Ready:            {statistics.median(portal_times):.2f} s / "
                  f"{max(portal_times):.2f} s")
            print(f"  kubectl apply -f + kubectl rollout status: {statistics.median(kubectl_times):.2f} s / "
                  f"{max(kubectl_times):.2f} s")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
