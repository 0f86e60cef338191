"""Cold build time vs warm start-to-ready time of the test Kubernetes cluster.

    python bench/cluster_start.py [--runs 3] [--nodes 3] [--rebuild] [--json]

Cold: NOT measured by this run unless --rebuild is given. By default it is the
figure an earlier build wrote: the seconds scripts/build-kube.sh's `make` took, in
$HUMMER_CACHE/kubernetes/<version>/build-seconds (and the whole script's, with the
dependencies and the source fetch, in build-total-seconds), shown with the date that
build wrote it. With --rebuild, a real rebuild into a temporary cache is timed (about
8 minutes of `make` on 2 cores, 466 s measured, plus fetching and unpacking the Debian
source package again).

Warm: with the binaries cached, start etcd + kube-apiserver +
kube-controller-manager + kube-scheduler + the simulated kubelet and time
until /readyz answers ok, until every node is Ready and the default
ServiceAccount has its token (pods can be created), and until a first pod is
Running; then time stop().
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.kube_cluster import BUILD_SCRIPT, KubeCluster, find_bin_dir  # noqa: E402


def cold_recorded(bin_dir: Path):
    """(make seconds, whole-script seconds or None, file, when the file was written) as an
    earlier build recorded them."""
    f = bin_dir.parent / "build-seconds"
    try:
        make = float(f.read_text().strip())
        written = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(f.stat().st_mtime))
    except (OSError, ValueError):
        return None, None, str(f), None
    try:
        total = float((bin_dir.parent / "build-total-seconds").read_text().strip())
    except (OSError, ValueError):
        total = None
    return make, total, str(f), written


def cold_rebuild():
    tmp = tempfile.mkdtemp(prefix="hummer-rebuild-")
    try:
        t0 = time.monotonic()
        env = dict(os.environ, HUMMER_CACHE=tmp)
        r = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, stdout=subprocess.PIPE, text=True)
        wall = time.monotonic() - t0
        if r.returncode != 0:
            raise SystemExit(f"rebuild failed with exit {r.returncode}")
        out = Path(r.stdout.strip().splitlines()[-1])
        recorded = float((out.parent / "build-seconds").read_text())
        return wall, recorded
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def warm_run(bin_dir: Path, nodes: int) -> dict:
    t0 = time.monotonic()
    c = KubeCluster(nodes=nodes, bin_dir=bin_dir)
    try:
        c.start()
        ready = time.monotonic() - t0
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench"},
                "spec": {"containers": [{"name": "c", "image": "hummer/bench:1"}]}}
        c.kubelet.rest.request("POST", "/api/v1/namespaces/default/pods", body)
        while (c.get_json("/api/v1/namespaces/default/pods/bench") or {}).get("status", {}).get("phase") != "Running":
            if time.monotonic() - t0 > 120:
                raise SystemExit("first pod never ran")
            time.sleep(0.02)
        first_pod = time.monotonic() - t0
    finally:
        s0 = time.monotonic()
        c.stop()
        stop = time.monotonic() - s0
    if c.leftovers():
        raise SystemExit(f"processes left behind: {c.leftovers()}")
    return {"etcd_healthy": c.timings["etcd"], "apiserver_readyz": c.timings["apiserver"],
            "cluster_ready": ready, "first_pod_running": first_pod, "stop": stop}


def main(argv=None):
    ap = argparse.ArgumentParser(description="cold build vs warm start of the test Kubernetes cluster")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="time a real rebuild into a temp cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    bin_dir = find_bin_dir(build=True)
    version = subprocess.run([str(bin_dir / "kube-apiserver"), "--version"], capture_output=True,
                             text=True).stdout.strip()
    cold, cold_total, source, written = cold_recorded(bin_dir)
    rebuild = None
    if args.rebuild:
        wall, recorded = cold_rebuild()
        rebuild = {"wall": wall, "make": recorded}
    runs = [warm_run(bin_dir, args.nodes) for _ in range(args.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {"version": version, "cpus": os.cpu_count(), "nodes": args.nodes, "cold_build_recorded": cold,
              "cold_build_total_recorded": cold_total,
              "cold_build_source": source,
              "cold_build_recorded_at": written, "rebuild": rebuild, "warm_runs": runs, "warm_median": med}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{version}, {os.cpu_count()} cores, {args.nodes} simulated nodes, {args.runs} warm runs")
    print()
    cold_txt = f"{cold:.0f} s make" if cold is not None else "not recorded"
    if cold_total is not None:
        cold_txt += f" ({cold_total:.0f} s with dependencies and source fetch)"
    if cold is not None:
        cold_txt += f", recorded by an earlier build on {written}, not measured now"
    if rebuild:
        cold_txt += f"; rebuilt now: {rebuild['wall']:.0f} s wall, {rebuild['make']:.0f} s make"
    rows = [("cold: build the control plane", cold_txt),
            ("warm: etcd healthy", f"{med['etcd_healthy']:.2f} s"),
            ("warm: kube-apiserver /readyz ok", f"{med['apiserver_readyz']:.2f} s"),
            ("warm: nodes Ready + default SA token", f"{med['cluster_ready']:.2f} s"),
            ("warm: first pod Running", f"{med['first_pod_running']:.2f} s"),
            ("warm: stop (nothing left behind)", f"{med['stop']:.2f} s")]
    w = max(len(r[0]) for r in rows)
    print(f"{'':{w}}  median of {args.runs}")
    for k, v in rows:
        print(f"{k:{w}}  {v}")
    print()
    each = ", ".join(f"{r['cluster_ready']:.1f}" for r in runs)
    if rebuild:
        cold_short = f"{rebuild['make']:.0f} s make (rebuilt in this run)"
    elif cold is not None:
        cold_short = f"{cold:.0f} s make (recorded by an earlier build, {written})"
    else:
        cold_short = "not recorded"
    print(f"cold build {cold_short}  vs  warm start-to-ready {med['cluster_ready']:.1f} s (runs: {each})")
    if not rebuild:
        print(f"(the cold figure is read from {source}, written by that earlier build; "
              "--rebuild measures one now)")


if __name__ == "__main__":
    main()
