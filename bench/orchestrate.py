"""Benchmark: one orchestration (orch.cluster, test=True) through salt-api vs salt-run.

    ./hummer bench orchestrate [--sizes 5,20] [--repeat 1]

For each size N it starts a real salt-master, salt-api and N salt-minions on
127.0.0.1 (tests/support/salt_harness.py), writes a cluster pillar with N
nodes (one master+registry+nfs, one node+monitoring, one node+portal, the rest
nodes), runs the orchestration once to warm the minions' file caches, then
times, alternately:
  portal   what the portal does: POST runner_async state.orchestrate through
           salt-api (portal.adapters.salt), then follow GET /events until the
           run's salt/run/<jid>/ret; wall time from the POST to that event;
  cli      `salt-run state.orchestrate orch.cluster test=True pillar=...`,
           wall time of the command (including its own start-up).
It prints both side by side with their ratio, the CPU the minions used per second
of wall time (cores busy), and how the time grows with N
(Salt works on the nodes in parallel; on one 2-core host the minions share the
same two cores, so this is an upper bound on the growth).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portal.adapters.salt import SaltAPI, SaltUnavailable, summarize_orchestration  # noqa: E402
from tests.support.salt_fixtures import example_pillar  # noqa: E402
from tests.support.salt_harness import SaltEnv  # noqa: E402


def cluster_pillar(ids: list[str]) -> dict:
    data = example_pillar()
    roles = {0: ["master", "registry", "nfs"], 1: ["node", "monitoring"], 2: ["node", "portal"]}
    data["hummer"]["nodes"] = {mid: {"address": f"192.0.2.{10 + i}", "roles": roles.get(i, ["node"])}
                               for i, mid in enumerate(ids)}
    return data


def via_api(api: SaltAPI, run_id: str, timeout: float = 1800) -> tuple[float, dict]:
    """POST runner_async, follow /events to salt/run/<jid>/ret, as the portal does.

    salt-api may end an event stream early; like the portal, reopen it and
    look the run up (jobs.lookup_jid) in case its ret went by meanwhile.
    """
    t0 = time.monotonic()
    stream = api.events(read_timeout=300)
    try:
        jid = api.orchestrate_async("orch.cluster", pillar={"hummer_run_id": run_id}, test=True)["jid"]
        while time.monotonic() - t0 < timeout:
            try:
                for event in stream:
                    if event["tag"] == f"salt/run/{jid}/ret":
                        return time.monotonic() - t0, event["data"]
            except SaltUnavailable:
                pass
            stream.close()
            stream = api.events(read_timeout=300)
            found = api.runner("jobs.lookup_jid", jid=jid)
            if found:
                return time.monotonic() - t0, found
        raise TimeoutError("no ret from salt-api")
    finally:
        stream.close()


def via_cli(env: SaltEnv, run_id: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    out = env.salt_run("state.orchestrate", "orch.cluster", "test=True",
                       f"pillar={json.dumps({'hummer_run_id': run_id})}", timeout=1800, pass_timeout=False)
    return time.monotonic() - t0, out


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by the processes under roots (user + system, reaped children
    included): each live process's own time plus what its exited children left it."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)
    ticks, seen, todo = 0, set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        ticks += sum(int(x) for x in stats[pid][11:15])  # utime stime cutime cstime
        todo.extend(children.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def check(ret: dict, how: str):
    summary = summarize_orchestration(ret)
    if not summary["success"]:
        raise SystemExit(f"{how}: orchestration failed: {summary['failures'][:3]}")
    return summary


def bench(size: int, repeat: int) -> dict:
    ids = [f"bench-{i:02d}" for i in range(size)]
    env = SaltEnv(minion_ids=ids, worker_threads=max(5, size // 2))
    try:
        t0 = time.monotonic()
        env.start(timeout=120 + 10 * size)
        started = time.monotonic() - t0
        env.write_cluster_pillar(cluster_pillar(ids))
        api = SaltAPI(env.api_url, env.api_user, env.api_password, eauth=env.eauth)
        warm, _ = via_cli(env, "warm-up")
        minions = [pid for name, pid in env.pids.items() if name.startswith("minion:")]
        portal, cli, busy = [], [], []
        for i in range(repeat):
            order = [("portal", via_api, api), ("cli", via_cli, env)]
            if i % 2:
                order.reverse()
            for name, fn, target in order:
                cpu0 = tree_cpu(minions)
                seconds, ret = fn(target, f"bench-{name}-{uuid.uuid4().hex[:6]}")
                busy.append((tree_cpu(minions) - cpu0) / seconds)
                summary = check(ret, name)
                (portal if name == "portal" else cli).append(seconds)
        steps = len(summary["steps"])
        return {"size": size, "start": started, "warm": warm, "portal": statistics.median(portal),
                "cli": statistics.median(cli), "steps": steps, "busy": statistics.median(busy)}
    finally:
        env.stop()


def main(argv=None):
    # Stopped from outside: still stop the daemons (SaltEnv.stop runs in `finally`).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,20", help="comma-separated minion counts (default 5,20)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per path and size (median)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        print(f"... {size} minions: starting", flush=True)
        results.append(bench(size, args.repeat))
        r = results[-1]
        print(f"    started in {r['start']:.1f} s, warm-up run {r['warm']:.1f} s", flush=True)
    print()
    print("orch.cluster, test=True, on real minions (one 2-core host)")
    print(f"{'minions':>8} {'steps':>6} {'portal (salt-api + /events)':>28} {'salt-run':>10} {'portal/cli':>11}"
          f" {'minion CPU / wall':>18}")
    for r in results:
        print(f"{r['size']:>8} {r['steps']:>6} {r['portal']:>26.1f} s {r['cli']:>8.1f} s "
              f"{r['portal'] / r['cli']:>10.2f}x"
              f" {r['busy']:>13.2f} cores")
    print(f"(this host has {os.cpu_count()} cores; minion CPU / wall near that number means the "
          "minions ran in parallel and the cores, not Salt, set the pace)")
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"\n{b['size'] / a['size']:.0f}x the minions took {b['cli'] / a['cli']:.2f}x the time (salt-run), "
              f"{b['portal'] / a['portal']:.2f}x (portal)")
    print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
