"""What a rule compares: the metrics a rule may name (from the schema module's measurements),
and their latest values for every rule at once.

    values.read({"cpu", "rx"}, {"disk"}, now)      # one InfluxDB request, every statement in it
    -> Latest(apps={("shop", "web", "cpu"): 0.75, ...}, nodes={("hm-node1", "disk"): 41.0})

A value is the mean over the WINDOW before `now` (Telegraf writes every 10 s): an app's is
the sum over its pods (CPU in cores, memory working set in bytes, network in bytes per
second, the counters' rate), a node's a percentage of the host (CPU busy, memory used,
disk used on /). Only times are bound into the statements; namespaces and pods come back
as GROUP BY tags and are matched here, so nothing a user typed goes into InfluxQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.adapters import influx
from portal.domain import metrics as schema
from portal.services.errors import ServiceError
from portal.services.metrics import reading

WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Metric:
    key: str
    label: object        # lazy: the user's language
    unit: str            # cores, bytes, bytes/s, %
    english: str         # how the history and webhooks name it


APP_METRICS = {
    "cpu": Metric("cpu", _l("CPU (cores)"), "cores", "CPU"),
    "memory": Metric("memory", _l("Memory (bytes)"), "bytes", "memory"),
    "rx": Metric("rx", _l("Network received (bytes/s)"), "bytes/s", "network received"),
    "tx": Metric("tx", _l("Network sent (bytes/s)"), "bytes/s", "network sent"),
}
NODE_METRICS = {
    "cpu": Metric("cpu", _l("CPU busy (%)"), "%", "CPU busy"),
    "memory": Metric("memory", _l("Memory used (%)"), "%", "memory used"),
    "disk": Metric("disk", _l("Disk used on / (%)"), "%", "disk used on /"),
}


class MetricsUnavailable(ServiceError):
    """InfluxDB is not configured, or did not answer: no metric rule is judged this time."""

    status = 503


@dataclass
class Latest:
    apps: dict[tuple[str, str, str], float] = field(default_factory=dict)   # (namespace, app, metric)
    nodes: dict[tuple[str, str], float] = field(default_factory=dict)       # (host, metric)


def app_of(pod: str) -> str:
    """web-5d9f7c-x2x9k -> web: a Deployment's pod is <app>-<pod-template-hash>-<suffix>."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""


def _statements() -> dict[tuple[str, str], str]:
    q = influx.quote_ident
    raw = q(schema.RP_RAW)
    when = "time > $start AND time <= $end"
    by_pod = f"GROUP BY {q(schema.TAG_NAMESPACE)}, {q(schema.TAG_POD)}"
    pc, pn = f"{raw}.{q(schema.PodContainer.NAME)}", f"{raw}.{q(schema.PodNetwork.NAME)}"

    def rate(counter: str) -> str:
        inner = (f"SELECT non_negative_derivative({q(counter)}, 1s) AS {q('rate')} FROM {pn} WHERE {when} "
                 f"{by_pod}")
        return f"SELECT mean({q('rate')}) FROM ({inner}) WHERE {when} {by_pod}"
    by_host = f"GROUP BY {q(schema.TAG_HOST)}"
    return {
        ("app", "cpu"): f"SELECT mean({q(schema.PodContainer.CPU_NANOCORES)}) / 1000000000 FROM {pc} "
                        f"WHERE {when} {by_pod}",
        ("app", "memory"): f"SELECT mean({q(schema.PodContainer.MEMORY_WORKING_SET)}) FROM {pc} WHERE {when} {by_pod}",
        ("app", "rx"): rate(schema.PodNetwork.RX_BYTES),
        ("app", "tx"): rate(schema.PodNetwork.TX_BYTES),
        ("node", "cpu"): f"SELECT 100 - mean({q(schema.Cpu.USAGE_IDLE)}) FROM {raw}.{q(schema.Cpu.NAME)} "
                         f"WHERE {q(schema.Cpu.TAG_CPU)} = {influx.quote_literal(schema.Cpu.TOTAL)} AND {when} "
                         f"{by_host}",
        ("node", "memory"): f"SELECT mean({q(schema.Mem.USED_PERCENT)}) FROM {raw}.{q(schema.Mem.NAME)} "
                            f"WHERE {when} {by_host}",
        ("node", "disk"): f"SELECT mean({q(schema.Disk.USED_PERCENT)}) FROM {raw}.{q(schema.Disk.NAME)} "
                          f"WHERE {q(schema.Disk.TAG_PATH)} = '/' AND {when} {by_host}",
    }


def _rfc3339(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(app_metrics: set[str], node_metrics: set[str], now: datetime) -> Latest:
    """The latest values of the metrics named (APP_METRICS and NODE_METRICS keys), for every
    app and node that reported in the WINDOW before `now`: one request to InfluxDB.
    MetricsUnavailable when it is not configured or does not answer."""
    wanted = [("app", k) for k in sorted(app_metrics)] + [("node", k) for k in sorted(node_metrics)]
    latest = Latest()
    if not wanted:
        return latest
    if not reading.configured():
        raise MetricsUnavailable(_("Metrics are not configured: set HUMMER_INFLUXDB_URL."))
    texts = _statements()
    params = {"start": _rfc3339(now - WINDOW), "end": _rfc3339(now)}
    try:
        # the process's shared client (reading.client): kept open, never closed here
        found = reading.client().query("; ".join(texts[w] for w in wanted), params)
    except influx.InfluxError as error:
        raise MetricsUnavailable(_("InfluxDB did not answer: %(reason)s", reason=error.message)) from error
    for s in found:
        target, key = wanted[s.statement]
        value = next((row[1] for row in s.values if row[1] is not None), None)
        if value is None:
            continue
        tags = s.tags or {}
        if target == "node":
            latest.nodes[(tags.get(schema.TAG_HOST, ""), key)] = float(value)
            continue
        app = app_of(tags.get(schema.TAG_POD, ""))
        if app:
            index = (tags.get(schema.TAG_NAMESPACE, ""), app, key)
            latest.apps[index] = latest.apps.get(index, 0.0) + float(value)
    return latest
