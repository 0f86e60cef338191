"""Deploy latency: submitting the portal's deploy form until all replicas are Ready,
beside `kubectl apply -f` of the same YAML plus `kubectl rollout status`.

    python bench/deploy.py [--replicas 5] [--runs 6] [--ready-delay 2]

The portal runs under gunicorn (tests/support/live_portal.py, through bench/_portal.py);
its project "portal" is made through HTTP, so the portal creates its namespace, its
LimitRange (from the default plan) and, with the quota set on the project's page, its
ResourceQuota. The kubectl side's namespace gets copies of that ResourceQuota and
LimitRange, so that both namespaces have the same objects (the API server's quota and
limit admission work the same for both). The YAML kubectl applies is the one the
portal's "Show YAML" printed for the same form, so both sides create the same objects.

The simulated kubelet takes --ready-delay seconds from a container's start to its
readiness (2 s by default: closer to a real pod than 0). The runs alternate which side
goes first.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._portal import create_plan, create_project, login, portal, post_form, prepare_database, token_of, wait_for  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402

PORTAL_NS, KUBECTL_NS = "portal", "kubectl-side"
QUOTA = {"quota_cpu": "100", "quota_memory": "100Gi", "quota_pods": "1000"}


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


def copy_namespace_policy(cluster: KubeCluster) -> list[str]:
    """The portal namespace's ResourceQuotas and LimitRanges, created again in the kubectl one.
    Returns what was copied, as kind/name."""
    found = json.loads(cluster.kubectl("get", "resourcequotas,limitranges", "-n", PORTAL_NS, "-o", "json").stdout)
    items = []
    for item in found["items"]:
        meta = item["metadata"]
        items.append({"apiVersion": item["apiVersion"], "kind": item["kind"], "spec": item["spec"],
                      "metadata": {"name": meta["name"], "namespace": KUBECTL_NS,
                                   "labels": meta.get("labels", {})}})
    if items:
        cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return sorted(f"{i['kind']}/{i['metadata']['name']}" for i in items)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, default=5)
    ap.add_argument("--runs", type=int, default=6, help="runs per side, alternating which goes first")
    ap.add_argument("--ready-delay", type=float, default=2.0,
                    help="seconds from a container's start to its readiness (the simulated kubelet's knob)")
    args = ap.parse_args()
    cluster = KubeCluster(nodes=3, kubelet_options={"ready_delay": args.ready_delay}).start()
    try:
        with tempfile.TemporaryDirectory(prefix="hummer-bench-") as tmp:
            tmp = Path(tmp)
            url = f"sqlite:///{tmp / 'hummer.db'}"
            prepare_database(url, tmp)
            portal_times, kubectl_times = [], []
            with portal(url, tmp, 2, 4, KUBECONFIG=str(cluster.kubeconfig)) as p:
                admin = login(p.base)
                create_plan(admin)
                create_project(admin, PORTAL_NS)
                post_form(admin, f"/projects/{PORTAL_NS}/quota", QUOTA, token_path=f"/projects/{PORTAL_NS}/settings")
                cluster.kubectl("create", "namespace", KUBECTL_NS)
                copied = copy_namespace_policy(cluster)
                for ns in (PORTAL_NS, KUBECTL_NS):
                    wait_for(lambda ns=ns: cluster.service_account_ready(ns), 60, what=f"{ns}'s ServiceAccount")
                print(f"both namespaces hold: {', '.join(copied) or 'no quota or LimitRange'}", flush=True)
                new = f"/projects/{PORTAL_NS}/apps/new"
                token = token_of(admin, new)
                admin.get(f"/projects/{PORTAL_NS}/apps")  # fill this worker's cache first

                def via_portal(name: str) -> float:
                    t0 = time.perf_counter()
                    r = admin.post(new, {**form(name, args.replicas), "csrf_token": token})
                    if r.status_code != 302:
                        raise SystemExit(f"deploy: {r.status_code} {r.text[:1000]}")
                    wait_for(lambda: all_ready(cluster, PORTAL_NS, name, args.replicas), 120, 0.02,
                             f"{name} Ready in {PORTAL_NS}")
                    return time.perf_counter() - t0

                def via_kubectl(name: str, yaml_text: str) -> float:
                    t0 = time.perf_counter()
                    cluster.kubectl("apply", "-f", "-", input=yaml_text)
                    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", KUBECTL_NS, "--timeout=120s")
                    return time.perf_counter() - t0

                for run in range(args.runs):
                    name = f"web-{run}"
                    # the YAML the portal would send, for kubectl, in its own namespace
                    page = admin.post(new, {**form(name, args.replicas, "yaml"), "csrf_token": token}).text
                    yaml_text = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1))
                    yaml_text = yaml_text.replace(f"namespace: {PORTAL_NS}", f"namespace: {KUBECTL_NS}")
                    if run % 2 == 0:
                        portal_times.append(via_portal(name))
                        kubectl_times.append(via_kubectl(name, yaml_text))
                        first = "portal"
                    else:
                        kubectl_times.append(via_kubectl(name, yaml_text))
                        portal_times.append(via_portal(name))
                        first = "kubectl"
                    print(f"run {run} ({first} first): portal {portal_times[-1]:.2f} s, "
                          f"kubectl {kubectl_times[-1]:.2f} s", flush=True)
            print()
            print(f"deploy of {args.replicas} replicas until all Ready, ready delay {args.ready_delay:g} s, "
                  f"{args.runs} runs per side, alternating which goes first (median / max):")
            print(f"  portal form submit -> Ready:               {statistics.median(portal_times):.2f} s / "
                  f"{max(portal_times):.2f} s")
            print(f"  kubectl apply -f + kubectl rollout status: {statistics.median(kubectl_times):.2f} s / "
                  f"{max(kubectl_times):.2f} s")
            ratio = statistics.median(portal_times) / statistics.median(kubectl_times)
            print(f"  portal / kubectl (medians):                {ratio:.2f}x")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
