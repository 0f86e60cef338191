"""The charts' data: InfluxQL with bind parameters, grouped by time, per pod or per node."""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import gettext as _

from portal.adapters import influx
from portal.charts import Series
from portal.domain import metrics as schema
from portal.services.metrics import ranges
from portal.services.metrics.ranges import TimeRange


@dataclass
class Chart:
    key: str              # cpu, memory, network, autoscaler
    title: str
    unit: str             # cores, bytes, bytes/s, replicas
    series: list[Series] = field(default_factory=list)
    step: int = 0         # seconds per point when not the range's (the autoscaler's: at least a minute)
    steps: bool = False   # drawn as steps (a count that changes at a moment), not slopes
    more: int = 0         # series left out (the pods past MAX_PODS; their sum is in the total's line)


@dataclass
class Panel:
    charts: list[Chart] = field(default_factory=list)
    problem: str = ""     # why there are no charts: not configured, or InfluxDB unreachable


def configured() -> bool:
    return bool(current_app.config.get("INFLUXDB_URL"))


_clients: dict[tuple, influx.Influx] = {}
_clients_lock = threading.Lock()


def client() -> influx.Influx:
    """This process's client of the configured InfluxDB (thread-safe, its connections kept
    alive between requests; not to be closed)."""
    c = current_app.config
    key = (os.getpid(), c["INFLUXDB_URL"], c.get("INFLUXDB_DATABASE") or schema.DATABASE,
           c.get("INFLUXDB_USERNAME", ""), c.get("INFLUXDB_PASSWORD", ""), float(c.get("INFLUXDB_TIMEOUT", 5)))
    found = _clients.get(key)
    if found is None:
        with _clients_lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = influx.Influx(*key[1:5], timeout=key[5])
    return found


RP, LO, HI = "@rp@", "$lo", "$hi"   # filled in by _statements: the source and the time bounds


def _source(measurement: str) -> str:
    return f"{RP}.{influx.quote_ident(measurement)}"


def _statements(text: str, tr: TimeRange) -> list[str]:
    """A query over the range: on the raw data; or, for a range read from the 1-hour rollup,
    on the rollup up to the last hour the continuous queries have surely done (the hour
    before the current one) and on the raw data after it, the two parts' series merged by
    _per."""
    raw = influx.quote_ident(schema.RP_RAW)
    if not tr.rollup:
        return [text.replace(RP, raw).replace(LO, "$start").replace(HI, "$end")]
    rollup = influx.quote_ident(schema.RP_ROLLUP)
    return [text.replace(RP, rollup).replace(LO, "$start").replace(HI, "$split"),
            text.replace(RP, raw).replace(LO, "$split").replace(HI, "$end")]


def _split(tr: TimeRange) -> datetime:
    hour = tr.end.replace(minute=0, second=0, microsecond=0)
    return max(tr.start, hour - timedelta(hours=1))


def _since(tr: TimeRange, created: str) -> datetime:
    """The range's start, or the Deployment's creation when that is later (series identity)."""
    try:
        born = datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None
    except ValueError:
        born = None
    return max(tr.start, born) if born else tr.start


def _pod_pattern(app: str) -> str:
    """The pods of Deployment `app`: <app>-<pod-template-hash>-<5 characters>. An app name is
    a DNS-1123 label, so it holds nothing a regular expression would read."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", app):
        raise ValueError(app)
    return f"/^{app}-[a-z0-9]+-[a-z0-9]+$/"


def _per(series: list[influx.Series], tag: str, scale: float = 1.0) -> list[Series]:
    """One chart series per value of `tag` (the rollup's part and the raw part joined)."""
    found: dict[str, list] = {}
    for s in series:
        label = (s.tags or {}).get(tag, s.name)
        # times are whole seconds and values numbers (the JSON's): no conversion, but the scale
        if scale == 1.0:
            found.setdefault(label, []).extend((t, v) for t, v in s.values if v is not None)
        else:
            found.setdefault(label, []).extend((t, v * scale) for t, v in s.values if v is not None)
    # the parts come in time order (the rollup's, then the raw data's): the sort only checks
    return [Series(label, sorted(points)) for label, points in sorted(found.items())]


MAX_PODS = 10   # pods drawn one by one in a chart; the others count in its "all pods" line


def _pods_chart(key: str, title: str, unit: str, pods: list[Series]) -> Chart:
    """The pods' sum ("all pods", when there are several) and the MAX_PODS pods with the
    highest mean over the range, by name: a chart of a hundred lines, each with its value in
    every hover band, reads as nothing and weighs megabytes."""
    if len(pods) <= 1:
        return Chart(key, title, unit, pods)
    shown = sorted(pods, key=lambda s: -sum(v for _t, v in s.points) / max(len(s.points), 1))[:MAX_PODS]
    shown.sort(key=lambda s: s.label)
    return Chart(key, title, unit, [_total(pods, _("all pods")), *shown], more=len(pods) - len(shown))


def _total(series: list[Series], label: str) -> Series:
    sums: dict[float, float] = {}
    for s in series:
        for t, v in s.points:
            sums[t] = sums.get(t, 0.0) + v
    return Series(label, sorted(sums.items()))


def app_charts(project_name: str, app: str, created: str, tr: TimeRange, hpa: str = "") -> Panel:
    """CPU (cores), memory (bytes) and network (bytes/s) of the app's pods, each pod and summed;
    and, when the app has the HPA `hpa`, its current and desired replicas as the portal
    recorded them (autoscalers.py)."""
    since = _since(tr, created)
    params = {"ns": project_name, "start": since}
    where = (f"{influx.quote_ident(schema.TAG_NAMESPACE)} = $ns AND {influx.quote_ident(schema.TAG_POD)} =~ "
             f"{_pod_pattern(app)} AND time >= {LO} AND time < {HI}")
    group = f"GROUP BY time({tr.step}s), {influx.quote_ident(schema.TAG_POD)} fill(none)"
    queries = {
        "cpu": f"SELECT mean({influx.quote_ident(schema.PodContainer.CPU_NANOCORES)}) FROM "
               f"{_source(schema.PodContainer.NAME)} WHERE {where} {group}",
        "memory": f"SELECT mean({influx.quote_ident(schema.PodContainer.MEMORY_WORKING_SET)}) FROM "
                  f"{_source(schema.PodContainer.NAME)} WHERE {where} {group}",
        "rx": f"SELECT non_negative_derivative(mean({influx.quote_ident(schema.PodNetwork.RX_BYTES)}), 1s) FROM "
              f"{_source(schema.PodNetwork.NAME)} WHERE {where} {group}",
        "tx": f"SELECT non_negative_derivative(mean({influx.quote_ident(schema.PodNetwork.TX_BYTES)}), 1s) FROM "
              f"{_source(schema.PodNetwork.NAME)} WHERE {where} {group}",
    }
    hpa_step = max(tr.step, 60)  # a point a minute: a finer step would break the line at every point
    if hpa:
        q, scaler = influx.quote_ident, schema.Autoscaler
        params["hpa"] = hpa
        hpa_where = (f"{q(scaler.TAG_NAMESPACE)} = $ns AND {q(scaler.TAG_HPA)} = $hpa AND time >= {LO} "
                     f"AND time < {HI} GROUP BY time({hpa_step}s) fill(none)")
        for key, field_name in (("current", scaler.CURRENT), ("desired", scaler.DESIRED)):
            queries[key] = f"SELECT max({q(field_name)}) FROM {_source(scaler.NAME)} WHERE {hpa_where}"
    found, problem = _read(queries, params, tr)
    if problem:
        return Panel(problem=problem)
    cpu = _per(found["cpu"], schema.TAG_POD, 1e-9)
    memory = _per(found["memory"], schema.TAG_POD)
    rx, tx = _per(found["rx"], schema.TAG_POD), _per(found["tx"], schema.TAG_POD)
    charts = [
        _pods_chart("cpu", _("CPU"), "cores", cpu),
        _pods_chart("memory", _("Memory"), "bytes", memory),
        Chart("network", _("Network"), "bytes/s", [_total(rx, _("received")), _total(tx, _("sent"))]),
    ]
    if hpa:
        charts.append(Chart("autoscaler", _("Autoscaler replicas: current and desired"), "replicas",
                            [_total(_per(found["current"], ""), _("current")),
                             _total(_per(found["desired"], ""), _("desired"))], step=hpa_step, steps=True))
    return Panel(charts)


def node_charts(node: str, tr: TimeRange) -> Panel:
    """CPU (% busy), memory (bytes used), disk (bytes used) and network (bytes/s) of one node."""
    q = influx.quote_ident
    params = {"host": node}
    where = f"{q(schema.TAG_HOST)} = $host AND time >= {LO} AND time < {HI}"
    group = f"GROUP BY time({tr.step}s) fill(none)"
    by_interface = f"GROUP BY time({tr.step}s), {q(schema.Net.TAG_INTERFACE)} fill(none)"
    queries = {
        "cpu": f"SELECT 100 - mean({q(schema.Cpu.USAGE_IDLE)}) FROM {_source(schema.Cpu.NAME)} WHERE {where} "
               f"AND {q(schema.Cpu.TAG_CPU)} = {influx.quote_literal(schema.Cpu.TOTAL)} {group}",
        "memory": f"SELECT mean({q(schema.Mem.USED)}) FROM {_source(schema.Mem.NAME)} WHERE {where} {group}",
        "disk": f"SELECT mean({q(schema.Disk.USED)}) FROM {_source(schema.Disk.NAME)} WHERE {where} "
                f"AND {q(schema.Disk.TAG_PATH)} = '/' {group}",
        "rx": f"SELECT non_negative_derivative(mean({q(schema.Net.BYTES_RECV)}), 1s) FROM {_source(schema.Net.NAME)} "
              f"WHERE {where} {by_interface}",
        "tx": f"SELECT non_negative_derivative(mean({q(schema.Net.BYTES_SENT)}), 1s) FROM {_source(schema.Net.NAME)} "
              f"WHERE {where} {by_interface}",
    }
    found, problem = _read(queries, params, tr)
    if problem:
        return Panel(problem=problem)

    def one(key: str) -> list[Series]:
        return [Series(node, p.points) for p in _per(found[key], "")]
    return Panel([
        Chart("cpu", _("CPU busy"), "%", one("cpu")),
        Chart("memory", _("Memory used"), "bytes", one("memory")),
        Chart("disk", _("Disk used (/)"), "bytes", one("disk")),
        Chart("network", _("Network"), "bytes/s", [_total(_per(found["rx"], schema.Net.TAG_INTERFACE), _("received")),
                                                   _total(_per(found["tx"], schema.Net.TAG_INTERFACE), _("sent"))]),
    ])


def _read(queries: dict[str, str], params: dict, tr: TimeRange) -> tuple[dict[str, list], str]:
    """Each query's series (all sent as one request of several statements), or ({}, why not)
    in the user's words; never raises."""
    if not configured():
        return {}, _("Metrics are not configured: set HUMMER_INFLUXDB_URL to the InfluxDB that Telegraf "
                     "writes to.")
    try:
        keys, statements = [], []
        for key, text in queries.items():
            for statement in _statements(text, tr):
                keys.append(key)
                statements.append(statement)
        params = {**params, "start": _rfc3339(params.get("start") or tr.start), "end": _rfc3339(tr.end),
                  "split": _rfc3339(_split(tr))}
        found: dict[str, list] = {key: [] for key in queries}
        for series in client().query("; ".join(statements), params):  # one request, every chart
            found[keys[series.statement]].append(series)
        return found, ""
    except influx.Unavailable as error:
        return {}, _("Metrics unavailable: InfluxDB did not answer (%(reason)s). The charts come back by "
                     "themselves when it does.", reason=error.message)
    except influx.InfluxError as error:
        return {}, _("Metrics unavailable: %(reason)s", reason=error.message)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Overview:
    nodes: list[tuple[str, float | None, float | None]] = field(default_factory=list)  # host, CPU %, memory %
    apps: list[tuple[str, str, float]] = field(default_factory=list)  # namespace, app, cores (5-minute mean)
    problem: str = ""


def _app_of(pod: str) -> str:
    """web-5d9f7c-x2x9k -> web (a Deployment's pod: name, pod-template-hash, suffix)."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


def overview(namespaces: list[str] | None, top: int = 5) -> Overview:
    """The last 5 minutes: each node's CPU and memory use, and the apps using the most CPU
    (in `namespaces` only, or everywhere for None)."""
    q = influx.quote_ident
    raw = influx.quote_ident(schema.RP_RAW)
    queries = {
        "cpu": f"SELECT 100 - last({q(schema.Cpu.USAGE_IDLE)}) FROM {raw}.{q(schema.Cpu.NAME)} WHERE time > now() - 5m "
               f"AND {q(schema.Cpu.TAG_CPU)} = {influx.quote_literal(schema.Cpu.TOTAL)} GROUP BY {q(schema.TAG_HOST)}",
        "mem": f"SELECT last({q(schema.Mem.USED_PERCENT)}) FROM {raw}.{q(schema.Mem.NAME)} WHERE time > now() - 5m "
               f"GROUP BY {q(schema.TAG_HOST)}",
        "pods": f"SELECT mean({q(schema.PodContainer.CPU_NANOCORES)}) FROM {raw}.{q(schema.PodContainer.NAME)} "
                f"WHERE time > now() - 5m GROUP BY {q(schema.TAG_NAMESPACE)}, {q(schema.TAG_POD)}",
    }
    found, problem = _read(queries, {}, ranges.parse("1h"))  # the range only fills the unused bounds
    if problem:
        return Overview(problem=problem)

    def by_host(key: str) -> dict[str, float]:
        return {(s.tags or {}).get(schema.TAG_HOST, ""): float(s.values[-1][1]) for s in found[key]
                if s.values and s.values[-1][1] is not None}
    cpu, mem = by_host("cpu"), by_host("mem")
    nodes = [(h, cpu.get(h), mem.get(h)) for h in sorted(set(cpu) | set(mem))]
    usage: dict[tuple[str, str], float] = {}
    for s in found["pods"]:
        tags = s.tags or {}
        ns = tags.get(schema.TAG_NAMESPACE, "")
        if namespaces is not None and ns not in namespaces:
            continue
        key = (ns, _app_of(tags.get(schema.TAG_POD, "")))
        usage[key] = usage.get(key, 0.0) + sum(float(v) for _t, v in s.values if v is not None) * 1e-9
    apps = sorted(((ns, app, cores) for (ns, app), cores in usage.items()), key=lambda r: -r[2])[:top]
    return Overview(nodes, apps)
