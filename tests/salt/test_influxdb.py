"""monitoring.influxdb.config and monitoring.influxdb.database, applied for real on a test minion
against the suite's influxd (tests/support/influx.py runs it on the file the first wrote and
applies the second), and what they made read back from the server: the database, its two
retention policies and the rollup's continuous queries, checked against the schema module.
"""
from __future__ import annotations

import json
import time
import tomllib
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from portal.adapters.kube.views import HpaView
from portal.domain import metrics
from portal.services.metrics import autoscalers
from tests.support import telegraf
from tests.support.influx import MINION, apply, continuous_queries
from tests.support.pillar import deep_merge

HOURS = {"30d": "720h0m0s", "365d": "8760h0m0s"}
def policies(influx, database: str) -> dict[str, tuple[str, bool]]:
    return {p["name"]: (p["duration"], p["default"])
            for p in influx.query(f'SHOW RETENTION POLICIES ON "{database}"')}


def test_influxd_runs_on_the_file_the_config_state_wrote(influx_empty):
    influx = influx_empty
    conf = tomllib.loads(influx.config_file.read_text())
    assert conf["http"]["bind-address"] == f"127.0.0.1:{influx.port}"
    data_dir = influx.root / "var/lib/influxdb"
    assert (conf["meta"]["dir"], conf["data"]["dir"], conf["data"]["wal-dir"]) == (
        f"{data_dir}/meta", f"{data_dir}/data", f"{data_dir}/wal")
    assert influx.daemon.argv[1:] == ["-config", str(influx.config_file)]
    assert (data_dir / "meta/meta.db").is_file()  # where the database and its policies are
    with influx.client() as client:
        telegraf.write(client, telegraf.host_points(telegraf.HostUsage("hm-node1"), [int(time.time())]))
    for kind in ("data", "wal"):  # the point's shard, in the raw policy
        assert list((data_dir / kind / influx.database / metrics.RP_RAW).iterdir()), kind
    assert conf["bind-address"].startswith("127.0.0.1:") and conf["bind-address"] != "127.0.0.1:8088"


def test_the_database_has_the_schemas_policies_and_a_rollup_query_per_measurement(influx):
    assert influx.database == metrics.DATABASE
    assert policies(influx, metrics.DATABASE) == {metrics.RP_RAW: (HOURS[metrics.RAW_DURATION], True),
                                                  metrics.RP_ROLLUP: (HOURS[metrics.ROLLUP_DURATION], False)}
    queries = continuous_queries(influx, metrics.DATABASE)
    by_measurement = {}
    for name, cq in queries.items():
        measurement = cq["source"].split(".")[-1]
        assert name.startswith(f"{metrics.RP_ROLLUP}_{measurement}_")
        assert cq["source"] == f"{metrics.DATABASE}.{metrics.RP_RAW}.{measurement}"
        assert cq["into"] == f"{metrics.DATABASE}.{metrics.RP_ROLLUP}.{measurement}"
        assert cq["interval"] == cq["every"] == metrics.ROLLUP_INTERVAL and cq["for"] == "2h"
        by_measurement[measurement] = cq["fields"]
    assert by_measurement == {m: ", ".join(f"{metrics.ROLLUP_FUNCTION}({f}) AS {f}" for f in fields)
                              for m, fields in metrics.ROLLUP.items()}


def test_a_second_apply_changes_nothing(salt_env, influx):
    again = apply(salt_env, "monitoring.influxdb.database", influx.pillar)
    assert {k: r["changes"] for k, r in again.items() if r["changes"]} == {}
    assert len(again) == len(influx.applied) == 5 + len(metrics.ROLLUP)


def test_the_rollup_queries_average_each_hour_keeping_tags_and_field_names(influx_empty):
    """Each continuous query's own SELECT ... INTO, run over two past hours (the server runs
    it at each hour's end, which a test cannot wait for)."""
    now = int(time.time())
    start = now - now % 3600 - 3 * 3600
    at = telegraf.every(start, start + 2 * 3600, 60)
    pod = telegraf.PodUsage("shop", "web-1", cpu_cores=lambda t: 0.2 if t < start + 3600 else 0.6,
                            memory_bytes=lambda t: 100 * telegraf.MIB if t < start + 3600 else 300 * telegraf.MIB)
    host = telegraf.HostUsage("hm-node1", cpu_busy=lambda t: 10.0 if t < start + 3600 else 30.0)
    # the autoscalers' history, which the portal writes: 2 replicas the first hour, 4 the second
    hpa = HpaView("shop", "web", "web", 1, 2, 5, 70, 0, None)
    hpas = [p for t in at for p in autoscalers.points(
        [replace(hpa, current_replicas=2 if t < start + 3600 else 4, desired_replicas=4)],
        datetime.fromtimestamp(t, timezone.utc))]
    with influx_empty.client() as client:
        telegraf.write(client, telegraf.pod_points(pod, at) + telegraf.host_points(host, at) + hpas)
        bounds = f"WHERE time >= {start}s AND time < {start + 2 * 3600}s "
        for cq in continuous_queries(influx_empty, metrics.DATABASE).values():
            client.query(f"{cq['select']} {bounds}{cq['group']}", method="POST")
    rows = influx_empty.query(f'SELECT * FROM "{metrics.RP_ROLLUP}"."{metrics.PodContainer.NAME}"', epoch="s")
    assert [(r["time"], r[metrics.PodContainer.CPU_NANOCORES], r[metrics.PodContainer.MEMORY_WORKING_SET])
            for r in rows] == [(start, 0.2e9, 100 * telegraf.MIB), (start + 3600, 0.6e9, 300 * telegraf.MIB)]
    assert {k: rows[0][k] for k in metrics.PodContainer.MEASUREMENT.tags} == {
        "host": "hm-node1", "cluster": "hummer", "namespace": "shop", "pod_name": "web-1",
        "container_name": "app", "node_name": "hm-node1"}
    cpu = influx_empty.query(f'SELECT "{metrics.Cpu.USAGE_IDLE}" FROM "{metrics.RP_ROLLUP}"."{metrics.Cpu.NAME}" '
                             f'WHERE "{metrics.Cpu.TAG_CPU}" = \'{metrics.Cpu.TOTAL}\'', epoch="s")
    assert [r[metrics.Cpu.USAGE_IDLE] for r in cpu] == [90.0, 70.0]
    scaler = metrics.Autoscaler
    replicas = influx_empty.query(f'SELECT * FROM "{metrics.RP_ROLLUP}"."{scaler.NAME}"', epoch="s")
    assert [(r["time"], r[scaler.CURRENT], r[scaler.DESIRED], r[scaler.TAG_HPA]) for r in replicas] == [
        (start, 2.0, 4.0, "web"), (start + 3600, 4.0, 4.0, "web")]
    for measurement, fields in metrics.ROLLUP.items():
        rows = influx_empty.query(f'SELECT * FROM "{metrics.RP_ROLLUP}"."{measurement}"')
        assert len(rows) == 2 and set(fields) <= set(rows[0]), measurement


def alt_pillar(influx, retention: str, measurements: dict) -> dict:
    every = {m: [] for m in metrics.ROLLUP}  # the defaults' measurements, not rolled up
    return deep_merge(influx.pillar, {"hummer": {"monitoring": {
        "database": "hummer_alt", "retention": retention,
        "rollup": {"retention": "30d", "measurements": {**every, **measurements}}}}})


def test_a_changed_pillar_alters_the_policy_and_replaces_the_queries(salt_env, influx):
    try:
        first = apply(salt_env, "monitoring.influxdb.database", alt_pillar(influx, "7d", {"cpu": ["usage_idle"],
                                                                                          "mem": ["used"]}))
        assert policies(influx, "hummer_alt") == {"raw": ("168h0m0s", True), "rollup_1h": ("720h0m0s", False)}
        before = continuous_queries(influx, "hummer_alt")
        assert sorted(cq["fields"] for cq in before.values()) == ["mean(usage_idle) AS usage_idle",
                                                                  "mean(used) AS used"]
        assert {k.split("_|-")[1] for k, r in first.items() if r["changes"]} == {
            "monitoring-influxdb-database-create-cmd-run", "monitoring-influxdb-database-rollup-cmd-run",
            "monitoring-influxdb-database-cq-cpu-cmd-run", "monitoring-influxdb-database-cq-mem-cmd-run"}
        changed = apply(salt_env, "monitoring.influxdb.database",
                        alt_pillar(influx, "14d", {"cpu": ["usage_idle", "usage_user"]}))
        assert policies(influx, "hummer_alt")["raw"] == ("336h0m0s", True)
        after = continuous_queries(influx, "hummer_alt")
        (cpu,) = after.values()
        assert cpu["fields"] == "mean(usage_idle) AS usage_idle, mean(usage_user) AS usage_user"
        assert not set(after) & set(before)  # the old cpu query replaced, mem's dropped
        assert {k.split("_|-")[1] for k, r in changed.items() if r["changes"]} == {
            "monitoring-influxdb-database-raw-cmd-run", "monitoring-influxdb-database-cq-cpu-cmd-run",
            "monitoring-influxdb-database-prune-cmd-run"}
        again = apply(salt_env, "monitoring.influxdb.database",
                      alt_pillar(influx, "14d", {"cpu": ["usage_idle", "usage_user"]}))
        assert {k: r["changes"] for k, r in again.items() if r["changes"]} == {}
    finally:
        with influx.client() as client:
            client.query('DROP DATABASE "hummer_alt"', method="POST")


@pytest.mark.parametrize("override, says", [
    ({"database": "hum'mer"}, "database must be letters, digits and underscores"),
    ({"rollup": {"retention": "1 year"}}, "rollup:retention must be a whole number of m, h, d or w"),
])
def test_a_bad_pillar_value_stops_before_anything_runs(salt_env, influx, override, says):
    pillar = deep_merge(influx.pillar, {"hummer": {"monitoring": override}})
    out = salt_env.salt(MINION, "state.apply", "monitoring.influxdb.database", f"pillar={json.dumps(pillar)}",
                        timeout=120, check=False)[MINION]
    assert isinstance(out, list) and says in "\n".join(out), out


def test_the_grafana_dashboards_queries_run_and_the_apps_one_keeps_to_its_app(influx_empty):
    """Each dashboard query, its variables filled in as Grafana fills them, against Telegraf's
    points: every panel has data, and the apps dashboard with app=web shows web's pods only,
    not those of webx in the same namespace."""
    from tests.salt.test_grafana_dashboards import DASHBOARDS, queries
    now = int(time.time())
    times = telegraf.every(now - 1800, now, 10)
    pods = ["web-5d8f7c9b6-abcde", "web-5d8f7c9b6-fghij", "webx-7f6d5c4b3-klmno"]
    points = [p for pod in pods for p in telegraf.pod_points(telegraf.PodUsage("shop", pod), times)]
    points += telegraf.host_points(telegraf.HostUsage("hm-node1"), times)
    telegraf.write(influx_empty.client(), points)
    filled = {"$namespace": "shop", "$app": "web", "$host": "hm-node1",
              "$timeFilter": "time > now() - 1h", "$__interval": "1m"}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for title, query in queries(path):
            for variable, value in filled.items():
                query = query.replace(variable, value)
            with influx_empty.client() as client:
                series = list(client.query(query).raw.get("series", []))
            assert series, f"{path.name} / {title}: no data for {query}"
            shown = {s.get("tags", {}).get("pod_name") for s in series} - {None}
            if shown:
                assert shown == set(pods[:2]), (path.name, title, shown)
