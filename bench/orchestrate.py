"""Benchmark: one orchestration (orch.cluster, test=True) started from the portal vs salt-run.

    ./hummer bench orchestrate [--sizes 5,20] [--repeats 2] [--database sqlite|mariadb]

For each size N it starts a real salt-master, salt-api and N salt-minions on
127.0.0.1 (tests/support/salt_harness.py) and the portal under gunicorn
(tests/support/live_portal.py, through bench/_portal.py) on a database of its own,
pointed at that salt-api. Through HTTP, as an administrator: the cluster settings,
then the roles of the N minions (one master+registry+nfs, one node+monitoring, one
node+portal, the rest nodes), which makes the portal write the cluster pillar the
Salt master reads. One salt-run warms the minions' file caches; then it times, in
alternating order (portal first, then salt-run first, ...):
  portal   the portal's real path: POST /cluster/runs (kind "plan": orch.cluster,
           test=True) to a gunicorn worker, whose follower thread follows salt-api's
           /events and writes every step and the run's end into the database; wall
           time from the POST until the database row says the run ended (read from
           the database itself), and the run's own started_at..finished_at;
  cli      `salt-run state.orchestrate orch.cluster test=True pillar=...` with the
           same pillar, wall time of the command (including its own start-up).
It prints both side by side with their ratio, the CPU seconds salt-api and the portal
spent per run, the CPU the minions used per second of wall time (cores busy), and how
the time grows with N (Salt works on the nodes in parallel; on one 2-core host the
minions share the same two cores, so this is an upper bound on the growth).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402

from bench._portal import login, portal, post_form, prepare_database, tree_cpu, wait_for  # noqa: E402
from tests.support.salt_harness import SaltEnv  # noqa: E402

SETTINGS = {"name": "bench", "kubernetes_version": "1.30.4", "pod_cidr": "172.16.0.0/16",
            "service_cidr": "10.0.1.0/24", "registry_port": "5000", "nfs_export": "/hummer"}
ROLES = {0: ["master", "registry", "nfs"], 1: ["node", "monitoring"], 2: ["node", "portal"]}
ENDED = ("succeeded", "failed")


def set_up_cluster(admin, ids: list[str]) -> None:
    """Settings and roles through the wizard's forms; the portal writes the cluster pillar."""
    post_form(admin, "/cluster/settings", SETTINGS)
    for i, mid in enumerate(ids):
        post_form(admin, f"/cluster/nodes/{mid}/roles",
                  {"roles": ROLES.get(i, ["node"]), "address": f"192.0.2.{10 + i}"}, token_path="/cluster/nodes")


def run_row(engine, run_pk: int):
    with engine.connect() as conn:
        return conn.execute(text("SELECT status, started_at, finished_at FROM provisioning_run WHERE id = :id"),
                            {"id": run_pk}).one_or_none()


def via_portal(admin, engine, timeout: float = 1800) -> tuple[float, float, str]:
    """(wall seconds from the POST until the database row has ended, the row's own
    finished_at - started_at, its status)."""
    t0 = time.monotonic()
    r = post_form(admin, "/cluster/runs", {"kind": "plan"}, token_path="/cluster")
    run_pk = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    row = wait_for(lambda: (lambda row: row if row and row.status in ENDED else None)(run_row(engine, run_pk)),
                   timeout=timeout, interval=0.1, what=f"run {run_pk} to end in the database")
    wall = time.monotonic() - t0
    ends = [v if isinstance(v, datetime) else datetime.fromisoformat(str(v))  # SQLite: text
            for v in (row.started_at, row.finished_at)]
    recorded = (ends[1] - ends[0]).total_seconds()
    return wall, recorded, row.status


def via_cli(env: SaltEnv) -> tuple[float, int, bool]:
    """(wall seconds, steps, all succeeded) of salt-run, as an operator runs it."""
    t0 = time.monotonic()
    out = env.salt_run("state.orchestrate", "orch.cluster", "test=True",
                       f"pillar={json.dumps({'hummer_run_id': f'bench-cli-{uuid.uuid4().hex[:6]}'})}",
                       timeout=1800, pass_timeout=False)
    wall = time.monotonic() - t0
    data = out.get("data", out) if isinstance(out, dict) else {}
    if len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))  # {master id: {step: result}}
    steps = [v for v in data.values() if isinstance(v, dict) and "result" in v]
    ok = env.last_cli.returncode == 0 and bool(steps) and all(s["result"] is not False for s in steps)
    return wall, len(steps), ok


def bench(size: int, repeats: int, database: str) -> dict:
    ids = [f"bench-{i:02d}" for i in range(size)]
    env = SaltEnv(minion_ids=ids, worker_threads=max(5, size // 2))
    with ExitStack() as stack:
        stack.callback(env.stop)
        t0 = time.monotonic()
        env.start(timeout=120 + 10 * size)
        started = time.monotonic() - t0
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hummer-bench-")))
        if database == "mariadb":
            from tests.support import databases
            url = stack.enter_context(databases.mariadb_database())
        else:
            url = f"sqlite:///{tmp / 'hummer.db'}"
        prepare_database(url, tmp)
        engine = create_engine(url)
        stack.callback(engine.dispose)
        p = stack.enter_context(portal(
            url, tmp, workers=2, threads=4, SALT_API_URL=env.api_url, SALT_API_USER=env.api_user,
            SALT_API_PASSWORD=env.api_password, SALT_API_EAUTH=env.eauth,
            SALT_PILLAR_FILE=str(env.cluster_pillar_path), SALT_DRY_RUN="1"))
        admin = login(p.base)
        set_up_cluster(admin, ids)
        warm, steps, ok = via_cli(env)
        if not ok:
            raise SystemExit(f"the warm-up salt-run failed:\n{env.last_cli.stdout[-3000:]}")
        minions = [pid for name, pid in env.pids.items() if name.startswith("minion:")]
        api_pid = env.pids["api"]
        rows = {"portal": [], "cli": []}
        for i in range(repeats):
            order = ["portal", "cli"] if i % 2 == 0 else ["cli", "portal"]
            for name in order:
                cpu0 = tree_cpu(minions), tree_cpu([api_pid]), tree_cpu([p.proc.pid])
                if name == "portal":
                    seconds, recorded, status = via_portal(admin, engine)
                    if status != "succeeded":
                        raise SystemExit(f"the portal's run ended {status}:\n{admin.get('/cluster').text[-3000:]}")
                else:
                    seconds, steps, ok = via_cli(env)
                    recorded = None
                    if not ok:
                        raise SystemExit(f"salt-run failed:\n{env.last_cli.stdout[-3000:]}")
                cpu1 = tree_cpu(minions), tree_cpu([api_pid]), tree_cpu([p.proc.pid])
                rows[name].append({"seconds": seconds, "recorded": recorded, "busy": (cpu1[0] - cpu0[0]) / seconds,
                                   "api_cpu": cpu1[1] - cpu0[1], "portal_cpu": cpu1[2] - cpu0[2]})
                extra = f" (the run's row: {recorded:.1f} s)" if recorded is not None else ""
                print(f"    run {i + 1} {name:6}: {seconds:.1f} s{extra}, salt-api {cpu1[1] - cpu0[1]:.1f} "
                      f"CPU-s, portal {cpu1[2] - cpu0[2]:.1f} CPU-s", flush=True)

    def med(name, key):
        return statistics.median(r[key] for r in rows[name])
    return {"size": size, "start": started, "warm": warm, "steps": steps, "repeats": repeats,
            "portal": med("portal", "seconds"), "portal_recorded": med("portal", "recorded"),
            "cli": med("cli", "seconds"), "busy": statistics.median(r["busy"] for v in rows.values() for r in v),
            "api_portal": med("portal", "api_cpu"), "api_cli": med("cli", "api_cpu"),
            "gunicorn_portal": med("portal", "portal_cpu")}


def main(argv=None):
    # Stopped from outside: still stop the daemons (every `finally` runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5,20", help="comma-separated minion counts (default 5,20)")
    parser.add_argument("--repeats", "--repeat", dest="repeats", type=int, default=2,
                        help="timed runs per path and size, in alternating order (median; default 2)")
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="sqlite",
                        help="the portal's database (mariadb: a database of its own on the tests' server)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        print(f"... {size} minions: starting", flush=True)
        results.append(bench(size, args.repeats, args.database))
        r = results[-1]
        print(f"    started in {r['start']:.1f} s, warm-up run {r['warm']:.1f} s", flush=True)
    print()
    print(f"orch.cluster, test=True, on real minions (one 2-core host); median of {args.repeats} run(s) "
          f"per path, alternating which goes first; the portal on {args.database}")
    print(f"{'minions':>8} {'steps':>6} {'portal: POST -> row ended':>26} {'(row)':>7} {'salt-run':>9}"
          f" {'portal/cli':>11} {'salt-api CPU-s/run':>19} {'gunicorn CPU-s':>15} {'minion CPU/wall':>16}")
    for r in results:
        print(f"{r['size']:>8} {r['steps']:>6} {r['portal']:>24.1f} s {r['portal_recorded']:>5.1f} s"
              f" {r['cli']:>7.1f} s {r['portal'] / r['cli']:>10.2f}x"
              f" {r['api_portal']:>8.1f} (cli {r['api_cli']:.1f})"
              f" {r['gunicorn_portal']:>15.1f} {r['busy']:>10.2f} cores")
    print(f"(this host has {os.cpu_count()} cores; minion CPU / wall near that number means the "
          "minions ran in parallel and the cores, not Salt, set the pace; salt-api's CPU in the cli "
          "column is what it spent meanwhile without the portal following a run)")
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"\n{b['size'] / a['size']:.0f}x the minions took {b['cli'] / a['cli']:.2f}x the time (salt-run), "
              f"{b['portal'] / a['portal']:.2f}x (portal)")
    print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
