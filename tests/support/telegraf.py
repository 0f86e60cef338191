"""The stand-in for Telegraf (which has no Debian package): points shaped as Telegraf's cpu,
mem, disk, net, system and kubernetes inputs write them, named by the schema module
(portal/domain/metrics.py), written through influxdb.InfluxDBClient in batches.

    pod = PodUsage("shop", "web-5d9c7-abcde", node="hm-node1", cpu_cores=0.25, memory_bytes=96 * MIB)
    host = HostUsage("hm-node1", cpu_busy=35.0, mem_used=3 * GIB)
    at = every(start, end, 10)                       # Telegraf's 10 s interval, epoch seconds
    write(influx.client(), pod_points(pod, at) + host_points(host, at))

A usage figure is a number or a function of the timestamp (`lambda t: ...`), so a test can
draw a ramp or a step. Network fields are what Telegraf reports: cumulative byte counters
since `since` (the pod's start, the host's boot), growing at the given rate per second.
Fields are integers or floats exactly as Telegraf writes them (Measurement.floats), and
every point carries the `host` and `cluster` tags of telegraf.conf.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from portal.domain.metrics import (
    TAG_CLUSTER,
    TAG_HOST,
    Cpu,
    Disk,
    Measurement,
    Mem,
    Net,
    Node,
    PodContainer,
    PodNetwork,
    System,
)

MIB = 1024 ** 2
GIB = 1024 ** 3
CLUSTER = "hummer"
NANOCORES = 1_000_000_000
Figure = float | Callable[[int], float]


def _at(figure: Figure, t: int) -> float:
    return figure(t) if callable(figure) else figure


def every(start: int, end: int, step: int = 10) -> list[int]:
    """Telegraf's collection times from `start` up to (not including) `end`, in seconds."""
    return list(range(start, end, step))


def point(measurement: Measurement, tags: dict[str, str], fields: dict[str, float], t: int) -> dict:
    """One point for influxdb.InfluxDBClient.write_points; its tags and fields must be the
    measurement's (the schema's names), each field typed as Telegraf types it."""
    unknown = (set(tags) - set(measurement.tags)) | (set(fields) - set(measurement.fields))
    if unknown:
        raise ValueError(f"{measurement.name} has no tag or field {sorted(unknown)}")
    typed = {k: float(v) if k in measurement.floats else int(round(v)) for k, v in fields.items()}
    return {"measurement": measurement.name, "tags": tags, "fields": typed, "time": t}


@dataclass
class PodUsage:
    """One pod of one container, as the kubelet reports it through Telegraf's kubernetes input."""
    namespace: str
    pod: str
    node: str = "hm-node1"
    container: str = "app"
    cpu_cores: Figure = 0.1            # kubernetes_pod_container cpu_usage_nanocores / 1e9
    memory_bytes: Figure = 64 * MIB    # the working set; memory_usage_bytes is a little more
    rx_per_second: Figure = 2000.0     # kubernetes_pod_network rx_bytes grows this fast
    tx_per_second: Figure = 1000.0
    since: int = 0                     # when the pod started: its counters count from there
    cluster: str = CLUSTER


def pod_points(pod: PodUsage, times: Iterable[int]) -> list[dict]:
    """kubernetes_pod_container and kubernetes_pod_network points of `pod` at each time."""
    points = []
    for t in times:
        node_tags = {TAG_HOST: pod.node, TAG_CLUSTER: pod.cluster, PodContainer.TAG_NODE: pod.node,
                     PodContainer.TAG_NAMESPACE: pod.namespace, PodContainer.TAG_POD: pod.pod}
        memory = _at(pod.memory_bytes, t)
        points.append(point(PodContainer.MEASUREMENT, {**node_tags, PodContainer.TAG_CONTAINER: pod.container}, {
            PodContainer.CPU_NANOCORES: _at(pod.cpu_cores, t) * NANOCORES,
            PodContainer.MEMORY_WORKING_SET: memory,
            PodContainer.MEMORY_USAGE: memory + 4 * MIB,
            PodContainer.MEMORY_RSS: memory * 0.8}, t))
        up = max(0, t - pod.since)
        points.append(point(PodNetwork.MEASUREMENT, node_tags, {
            PodNetwork.RX_BYTES: _at(pod.rx_per_second, t) * up,
            PodNetwork.TX_BYTES: _at(pod.tx_per_second, t) * up}, t))
    return points


@dataclass
class HostUsage:
    """One node: Telegraf's host inputs and, where it runs a kubelet, kubernetes_node."""
    host: str
    cpus: int = 2
    cpu_busy: Figure = 20.0                # percent of all CPU time, of which 3/4 user
    mem_total: int = 8 * GIB
    mem_used: Figure = 2 * GIB
    disk_path: str = "/"
    disk_total: int = 100 * GIB
    disk_used: Figure = 30 * GIB
    interface: str = "eth0"
    recv_per_second: Figure = 50_000.0     # net bytes_recv grows this fast
    sent_per_second: Figure = 20_000.0
    load1: Figure = 0.5
    kubelet: bool = True
    since: int = 0                          # boot time: uptime and the net counters count from there
    cluster: str = CLUSTER


def host_points(host: HostUsage, times: Iterable[int]) -> list[dict]:
    """cpu (cpu-total), mem, disk, net, system and (kubelet) kubernetes_node points at each time."""
    points = []
    for t in times:
        tags = {TAG_HOST: host.host, TAG_CLUSTER: host.cluster}
        busy, used, disk_used = _at(host.cpu_busy, t), _at(host.mem_used, t), _at(host.disk_used, t)
        up = max(0, t - host.since)
        recv, sent = _at(host.recv_per_second, t) * up, _at(host.sent_per_second, t) * up
        points += [
            point(Cpu.MEASUREMENT, {**tags, Cpu.TAG_CPU: Cpu.TOTAL}, {
                Cpu.USAGE_IDLE: 100.0 - busy, Cpu.USAGE_USER: busy * 0.75, Cpu.USAGE_SYSTEM: busy * 0.25,
                Cpu.USAGE_IOWAIT: 0.0, Cpu.USAGE_STEAL: 0.0}, t),
            point(Mem.MEASUREMENT, tags, {
                Mem.TOTAL: host.mem_total, Mem.USED: used, Mem.AVAILABLE: host.mem_total - used,
                Mem.USED_PERCENT: 100.0 * used / host.mem_total}, t),
            point(Disk.MEASUREMENT, {**tags, Disk.TAG_PATH: host.disk_path, Disk.TAG_DEVICE: "vda1",
                                     Disk.TAG_FSTYPE: "ext4"}, {
                Disk.TOTAL: host.disk_total, Disk.USED: disk_used, Disk.FREE: host.disk_total - disk_used,
                Disk.USED_PERCENT: 100.0 * disk_used / host.disk_total}, t),
            point(Net.MEASUREMENT, {**tags, Net.TAG_INTERFACE: host.interface},
                  {Net.BYTES_RECV: recv, Net.BYTES_SENT: sent}, t),
            point(System.MEASUREMENT, tags, {
                System.LOAD1: _at(host.load1, t), System.LOAD5: _at(host.load1, t),
                System.LOAD15: _at(host.load1, t), System.N_CPUS: host.cpus, System.UPTIME: up}, t),
        ]
        if host.kubelet:
            points.append(point(Node.MEASUREMENT, {**tags, Node.TAG_NODE: host.host}, {
                Node.CPU_NANOCORES: busy / 100.0 * host.cpus * NANOCORES, Node.MEMORY_WORKING_SET: used,
                Node.MEMORY_AVAILABLE: host.mem_total - used, Node.FS_USED: disk_used,
                Node.FS_CAPACITY: host.disk_total, Node.NETWORK_RX_BYTES: recv, Node.NETWORK_TX_BYTES: sent}, t))
    return points


def as_rollup(points: list[dict]) -> list[dict]:
    """The same points as the rollup's continuous queries write them: every field a mean,
    a float (a shard keeps a field's first type, even after DROP SERIES)."""
    return [{**p, "fields": {k: float(v) for k, v in p["fields"].items()}} for p in points]


def write(client, points: list[dict], *, batch_size: int = 5000, time_precision: str = "s",
          retention_policy: str | None = None) -> int:
    """Write `points` through `client` (an influxdb.InfluxDBClient) in batches, as Telegraf
    flushes them; their times are in `time_precision` ("s" or "n"). Returns how many."""
    for i in range(0, len(points), batch_size):
        client.write_points(points[i:i + batch_size], time_precision=time_precision,
                            retention_policy=retention_policy)
    return len(points)
