"""Metrics query: an app's Monitoring charts over 7 days of 100 pods' 10-second data, through
gunicorn, beside the raw InfluxQL behind them.

    python bench/metrics_query.py [--pods 100] [--days 7] [--requests 200] [--batch 50000]
                                  [--workers 2] [--threads 4]

Starts the suite's InfluxDB (tests/support/influx.py: one Salt master and the example's three
minions, `monitoring.influxdb.config` applied for real into a temporary root, `influxd` on the
file it wrote, then `monitoring.influxdb.database`: the database, its two retention policies
and the rollup's continuous queries), the test control plane (one node) and the portal under
gunicorn (bench/_portal.py) with HUMMER_INFLUXDB_URL pointing at that InfluxDB. A plan, the
project "bench" and the app "web" (one replica) are made through HTTP; `kubectl annotate
deployment web hummer.io/metrics-since=...` moves the start of its charts to the start of the
data (the Deployment is new: series identity would hide the week otherwise).

Loads --days days (and an hour more) of --pods pods of "web" (web-<hash>-<suffix>), one point
every 10 s per pod in each of kubernetes_pod_container and kubernetes_pod_network, in
Telegraf's schema and through the Telegraf stand-in's writer (tests/support/telegraf.py:
influxdb.InfluxDBClient.write_points, line protocol, precision s) in batches of --batch: 6.05
million samples per measurement for the defaults. Then each continuous query's own
`SELECT ... INTO` is run over the loaded hours up to the current one, a day at a time, as the
server would have done at each hour's end in a week-old install.

--keep DIR leaves the loaded InfluxDB in DIR; a later run with --reuse DIR starts it again and
loads only the points since (and rolls up the hours since), instead of the whole week again.

Then, --requests times each, alternating which side goes first:
  * the endpoint: `GET /projects/bench/apps/web/monitoring?range=7d` as the charts' 30 s
    refresh asks it (HX-Request, the charts' fragment: all of its queries, the three SVG charts
    of 101 series each), a new connection per request so that every worker answers;
  * the raw query: exactly the statements the endpoint sends (captured from the portal's own
    code, portal/services/metrics/reading.py, for the same range and printed once), with the
    same bind parameters, run with influxdb.InfluxDBClient.query directly (kept-alive
    connection, the JSON decoded as the client does).
p50 and p99 of each; the targets (issue 14): the endpoint's p99 at most 200 ms and at most
1.3x the raw query's.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._portal import (  # noqa: E402
    SECRET_KEY,
    admin_with_project,
    new_connection_session,
    pct,
    portal,
    post_form,
    prepare_database,
    wait_for,
)
from tests.support import telegraf  # noqa: E402
from tests.support.influx import InfluxServer, continuous_queries, provision  # noqa: E402
from tests.support.kube_cluster import KubeCluster  # noqa: E402
from tests.support.salt_fixtures import ROLES, example_pillar  # noqa: E402
from tests.support.salt_harness import SaltEnv  # noqa: E402

NS, APP = "bench", "web"
P99_TARGET_MS = 200.0
RATIO_TARGET = 1.3
HOUR, DAY = 3600, 86400


def pod_names(n: int, rng: random.Random) -> list[str]:
    """Deployment pods' names over a week of rollouts: a few template hashes, 5-character suffixes."""
    alphabet = string.ascii_lowercase + string.digits
    hashes = ["".join(rng.choices(alphabet, k=10)) for _ in range(4)]
    return [f"{APP}-{hashes[i % len(hashes)]}-{''.join(rng.choices(alphabet, k=5))}" for i in range(n)]


def load(influx, pods: list[str], start: int, end: int, batch: int, origin: int) -> tuple[int, float]:
    """Every pod's points every 10 s from start to end, an hour at a time; (points, seconds).
    The pods started an hour before `origin`, the start of the data (their byte counters)."""
    usages = [telegraf.PodUsage(NS, pod, node=f"hm-node{1 + i % 4}", cpu_cores=0.02 + 0.01 * (i % 7),
                                memory_bytes=(48 + i % 13 * 8) * telegraf.MIB, rx_per_second=1000.0 + 50 * i,
                                tx_per_second=400.0 + 20 * i, since=origin - HOUR) for i, pod in enumerate(pods)]
    written, t0 = 0, time.monotonic()
    with influx.client(timeout=300) as client:
        for hour in range(start, end, HOUR):
            at = telegraf.every(hour, min(hour + HOUR, end), 10)
            points = [p for usage in usages for p in telegraf.pod_points(usage, at)]
            written += telegraf.write(client, points, batch_size=batch)
            done = hour + HOUR - start
            if done % DAY == 0 or hour + HOUR >= end:
                print(f"  {min(done, end - start) / DAY:.2f} of {(end - start) / DAY:.2f} days: {written:,} points, "
                      f"{written / (time.monotonic() - t0):,.0f} points/s", flush=True)
    return written, time.monotonic() - t0


def backfill_rollup(influx, start: int, end: int) -> float:
    """Each continuous query's own SELECT ... INTO over [start, end), a day at a time."""
    t0 = time.monotonic()
    cqs = continuous_queries(influx, influx.database)
    with influx.client(timeout=600) as client:
        for a in range(start, end, DAY):
            b = min(a + DAY, end)
            for cq in cqs.values():
                client.query(f"{cq['select']} WHERE time >= {a}s AND time < {b}s {cq['group']}", method="POST")
    return time.monotonic() - t0


def statements_of(app, since: str) -> tuple[str, dict]:
    """The InfluxQL text and bind parameters the endpoint sends for range=7d now: the portal's
    own reading code run in this process, its one query caught before it leaves."""
    from portal.adapters import influx as adapter
    from portal.services import metrics
    caught = {}

    def catch(self, q, params=None, epoch="s"):
        caught.update(q=q, params=params)
        raise adapter.Unavailable("caught")
    real = adapter.Influx.query
    adapter.Influx.query = catch
    try:
        with app.test_request_context("/"):
            metrics.app_charts(NS, APP, since, metrics.ranges.parse("7d"))
    finally:
        adapter.Influx.query = real
    return caught["q"], caught["params"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--requests", type=int, default=200, help="timed requests (and raw queries)")
    ap.add_argument("--batch", type=int, default=50000, help="points per write request")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--keep", metavar="DIR", help="load InfluxDB in DIR and leave it there, for --reuse")
    ap.add_argument("--reuse", metavar="DIR", help="start the InfluxDB a run with --keep DIR loaded; load only "
                    "the points since, roll up the hours since")
    args = ap.parse_args()
    if args.keep and args.reuse:
        ap.error("--keep or --reuse, not both")
    t0 = time.monotonic()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hummer-bench-metrics-")))
        now = int(time.time())
        end = now - now % 10
        keep = Path(args.reuse or args.keep or tmp / "influxdb").resolve()
        if args.reuse:  # the InfluxDB a run with --keep loaded: start it on its files
            state = json.loads((keep / "loaded.json").read_text())
            influx = InfluxServer(keep, keep / "etc/influxdb/influxdb.conf", state["port"], {}).start()
            stack.callback(influx.stop)
            origin, loaded_to, rolled, pods = state["origin"], state["end"], state["rolled"], state["pods"]
            print(f"reusing the InfluxDB loaded in {keep} (its data from "
                  f"{datetime.fromtimestamp(origin, timezone.utc):%Y-%m-%d %H:%M} UTC, loaded up to "
                  f"{datetime.fromtimestamp(loaded_to, timezone.utc):%Y-%m-%d %H:%M:%S} UTC)", flush=True)
        else:
            salt = SaltEnv(minion_ids=list(ROLES), api=False)
            stack.callback(salt.stop)
            salt.start(timeout=600)  # a loaded machine: minions may take minutes
            salt.write_cluster_pillar(example_pillar())
            salt.refresh_pillar()
            keep.mkdir(parents=True, exist_ok=True)
            influx = provision(salt, keep)
            stack.callback(influx.stop)
            salt.stop()  # done with Salt: it only made the configuration and the database
            origin = end - int(args.days * DAY) - HOUR
            loaded_to, rolled, pods = origin, origin - origin % HOUR, pod_names(args.pods, random.Random(14))
        cluster = KubeCluster(nodes=1).start()
        stack.callback(cluster.stop)
        print(f"InfluxDB ({influx.url}, started in {influx.started_in:.2f} s) and the cluster up in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        if end - int(args.days * DAY) < origin:
            print(f"WARNING: the data starts {(origin - end + args.days * DAY) / 60:.0f} minutes into the range")

        print(f"loading {(end - loaded_to) / DAY:.2f} days of {len(pods)} pods every 10 s "
              f"({(end - loaded_to) // 10 * len(pods):,} samples per measurement, 2 measurements), "
              f"batches of {args.batch:,} ...", flush=True)
        points, seconds = load(influx, pods, loaded_to, end, args.batch, origin)
        print(f"  {points:,} points in {seconds:.1f} s ({points / seconds:,.0f} points/s)", flush=True)
        rolled_to = now - now % HOUR
        seconds = backfill_rollup(influx, rolled, rolled_to)
        print(f"  rollup backfilled ({datetime.fromtimestamp(rolled, timezone.utc):%Y-%m-%d %H:%M} to "
              f"{datetime.fromtimestamp(rolled_to, timezone.utc):%Y-%m-%d %H:%M} UTC) in {seconds:.1f} s", flush=True)
        if args.keep or args.reuse:
            (keep / "loaded.json").write_text(json.dumps({"origin": origin, "end": end, "rolled": rolled_to,
                                                          "pods": pods, "port": influx.port}))

        url = f"sqlite:///{tmp / 'hummer.db'}"
        prepare_database(url, tmp / "instance")
        p = stack.enter_context(portal(url, tmp, args.workers, args.threads, KUBECONFIG=str(cluster.kubeconfig),
                                       INFLUXDB_URL=influx.url, INFLUXDB_DATABASE=influx.database,
                                       LOGIN_RATE_LIMIT="", ANONYMOUS_RATE_LIMIT=""))
        admin = admin_with_project(p.base, cluster, NS)
        form = {"name": APP, "image": "hummer/web", "tag": "1.0", "replicas": "1", "plan": "tiny",
                "liveness-kind": "none", "readiness-kind": "none", "op": "deploy"}
        post_form(admin, f"/projects/{NS}/apps/new", form)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(origin))
        cluster.kubectl("annotate", "deployment", APP, "-n", NS, f"hummer.io/metrics-since={since}")
        return measure(args, p, admin, influx, tmp, since, pods)


def measure(args, p, admin, influx, tmp: Path, since: str, pods: list[str]) -> int:
    from portal import create_app
    path = f"/projects/{NS}/apps/{APP}/monitoring?range=7d"
    fragment = {"HX-Request": "true", "HX-Target": "app-monitoring"}
    session = new_connection_session(admin)

    def endpoint() -> tuple[float, str]:
        t = time.perf_counter()
        r = session.get(p.base + path, headers=fragment, timeout=120, allow_redirects=False)
        ms = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise SystemExit(f"GET {path}: {r.status_code} {r.text[:500]}")
        return ms, r.text

    def complete(page: str) -> bool:  # every worker's cache has the annotation: the week is drawn
        named = sum(pod in page for pod in pods)  # every pod, or (since) the ten busiest
        return "from the 1-hour rollup" in page and "No data" not in page and named >= min(len(pods), 10)
    for _ in range(4 * args.workers):  # each worker: its caches filled, the annotation seen
        wait_for(lambda: complete(endpoint()[1]), 60, interval=0.2, what="the 7 days drawn for every pod")
    _ms, page = endpoint()
    bands = page.count('<rect class="hover"')
    print(f"the fragment: {len(page) / 1024:.0f} KiB, {page.count('<polyline')} lines, {bands} hover bands",
          flush=True)

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'hummer.db'}", "INSTANCE_PATH": str(tmp / "cli"),
                      "SECRET_KEY": SECRET_KEY, "INFLUXDB_URL": influx.url, "INFLUXDB_DATABASE": influx.database})
    q, params = statements_of(app, since)
    print("the statements the endpoint sends (one request), with its bind parameters:")
    for statement in q.split("; "):
        print(f"  {statement}")
    print(f"  params: {params}", flush=True)
    client = influx.client(timeout=120)

    def raw() -> float:
        q, params = statements_of(app, since)  # this moment's bounds, as the endpoint's own
        t = time.perf_counter()
        result = client.query(q, bind_params=params, epoch="s")
        ms = (time.perf_counter() - t) * 1000
        if not any(rs.raw.get("series") for rs in result):
            raise SystemExit("the raw query found nothing")
        return ms

    for _ in range(5):  # warm both sides: the server's caches, the workers' connections
        endpoint()
        raw()
    ours, theirs = [], []
    for i in range(args.requests):
        if i % 2 == 0:
            ours.append(endpoint()[0])
            theirs.append(raw())
        else:
            theirs.append(raw())
            ours.append(endpoint()[0])
    client.close()
    p50, p99 = pct(ours, 50), pct(ours, 99)
    r50, r99 = pct(theirs, 50), pct(theirs, 99)
    print()
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
          + f" on {os.cpu_count()} CPUs")
    print(f"{args.requests} requests each, alternating; {args.pods} pods, {args.days:g} days, range=7d "
          f"(a point an hour, from the rollup and the last hours' raw data); gunicorn {args.workers} workers x "
          f"{args.threads} threads")
    print(f"  endpoint (GET {path}, the charts' fragment): p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    print(f"  raw InfluxQL (influxdb client, the same statements): p50 {r50:6.1f} ms  p99 {r99:6.1f} ms")
    ok_p99 = p99 <= P99_TARGET_MS
    ok_ratio = p99 <= RATIO_TARGET * r99
    print(f"  endpoint p99 {p99:.1f} ms: {'meets' if ok_p99 else 'MISSES'} the {P99_TARGET_MS:.0f} ms target; "
          f"{p99 / r99:.2f}x the raw query's p99 (p50 {p50 / r50:.2f}x): "
          f"{'meets' if ok_ratio else 'MISSES'} the {RATIO_TARGET}x target")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as error:
        raise SystemExit(f"{error.cmd} failed: {error.stderr or error.stdout}")
