"""Run Hummer's test Kubernetes cluster in the foreground for local development.

    python -m tests.support.devcluster [--nodes 3] [--kubeconfig instance/dev-kubeconfig]

The same real control plane as the test suite (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler from scripts/build-kube.sh) with the
simulated kubelet for the nodes. Writes a kubeconfig, prints how to point the
portal and kubectl at it, and stops everything on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from tests.support.kube_cluster import ClusterError, KubeCluster, write_kubeconfig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.support.devcluster", description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    ap.add_argument("--kubeconfig", default=os.path.join("instance", "dev-kubeconfig"),
                    help="where to write the kubeconfig (default ./instance/dev-kubeconfig)")
    ap.add_argument("--pods-per-node", type=int, default=None, help="pods capacity of each node (default 5000)")
    ap.add_argument("--ready-delay", type=float, default=0.0,
                    help="seconds a started container takes to become Ready (default 0)")
    ap.add_argument("--start-delay", type=float, default=0.0,
                    help="seconds a pod shows ContainerCreating before it runs (default 0)")
    ap.add_argument("--missing-image", action="append", default=[], metavar="IMAGE",
                    help="an image the simulated registry does not have (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, etcd data) after stopping")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the simulated kubelet's work")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    capacity = {"pods": str(args.pods_per_node)} if args.pods_per_node else None
    cluster = KubeCluster(nodes=args.nodes, node_capacity=capacity, keep_workdir=args.keep, name="hummer-dev",
                          kubelet_options={"ready_delay": args.ready_delay, "start_delay": args.start_delay})
    print(f"starting a Kubernetes control plane with {args.nodes} simulated node(s)...", flush=True)
    try:
        cluster.start()
    except ClusterError as e:
        print(f"devcluster: {e}", file=sys.stderr)
        return 1
    try:
        if args.missing_image:
            missing = set(args.missing_image)
            cluster.kubelet.registry_checker = lambda image: image not in missing
        path = write_kubeconfig(Path(args.kubeconfig), cluster.api_url, cluster.token,
                                cluster.ca_file.read_bytes(), "hummer-dev")
        path = path.resolve()
        print(f"""
Kubernetes {cluster.api_url} is ready ({cluster.timings['ready']:.1f} s), nodes: \
{', '.join(cluster.kubelet.node_names)}
  logs:        {cluster.workdir / 'logs'}
  kubeconfig:  {path}

Point the portal at it:
  export HUMMER_KUBECONFIG={path}
kubectl:
  {cluster.bin_dir / 'kubectl'} --kubeconfig {path} get nodes

Ctrl-C stops the cluster (its data is thrown away).""", flush=True)
        while not stop.wait(1.0):
            for d in cluster.daemons.values():
                if d.proc.poll() is not None:
                    print(f"devcluster: {d.name} exited with {d.proc.returncode}:\n{d.tail()}", file=sys.stderr)
                    return 1
        print("\nstopping...", flush=True)
        return 0
    finally:
        cluster.stop()
        left = cluster.leftovers()
        if left:
            print(f"devcluster: processes left behind: {left}", file=sys.stderr)
        else:
            print("stopped; no process left behind.", flush=True)
        try:
            Path(args.kubeconfig).unlink()
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
