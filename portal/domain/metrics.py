"""The metrics schema: the InfluxDB database, retention policies, measurements, fields and tags
that Telegraf writes and the portal reads, named here and nowhere else.

Telegraf runs on every node (salt_states/monitoring/files/telegraf.conf.jinja) with the host
inputs cpu, mem, disk, net and system and, on Kubernetes nodes, the `kubernetes` input (the
kubelet's /stats/summary). Every point carries two tags besides its input's own:

  * `host`: the agent's hostname, which Salt sets to the node's Kubernetes name, so a node's
    host metrics and its `node_name` in the kubernetes measurements agree;
  * `cluster`: the cluster's name (Telegraf's global_tags).

The names below are Telegraf's own (plugins/inputs/{cpu,mem,disk,net,system,kubernetes}).
Only the fields the portal charts are named; Telegraf writes more, which nothing here reads.
The same fields, as their mean per hour grouped by every tag, go to the rollup retention
policy: the continuous queries of the `monitoring.influxdb.database` Salt state, whose
parameters (salt_states/monitoring/parameters/defaults.yaml, `rollup`) a test checks against
ROLLUP here. A field keeps its name in the rollup, so a query changes only its retention
policy to read it.

Counters (COUNTERS of a measurement) are cumulative totals since the counter's start (bytes
received since boot, or since the pod started): a chart shows their rate, with
non_negative_derivative, never their value.

Plain constants and frozen dataclasses; this module imports nothing of the portal.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DATABASE", "RP_RAW", "RP_ROLLUP", "RAW_DURATION", "ROLLUP_DURATION", "ROLLUP_INTERVAL",
           "ROLLUP_FUNCTION", "TAG_HOST", "TAG_CLUSTER", "Measurement", "Cpu", "Mem", "Disk", "Net", "System",
           "PodContainer", "PodNetwork", "Node", "Autoscaler", "HOST_MEASUREMENTS", "KUBERNETES_MEASUREMENTS",
           "MEASUREMENTS", "PORTAL_MEASUREMENTS", "ROLLUP", "TELEGRAF_INPUTS"]

# ---------------------------------------------------------------------------- database

#: The database Telegraf writes into (pillar hummer:monitoring:database, HUMMER_INFLUXDB_DATABASE).
DATABASE = "hummer"
#: The database's default retention policy: every point Telegraf writes, at its own interval
#: (10 s by default), kept RAW_DURATION (pillar hummer:monitoring:retention).
RP_RAW = "raw"
RAW_DURATION = "30d"
#: The down-sampled copy: ROLLUP_FUNCTION per ROLLUP_INTERVAL of every ROLLUP field, kept
#: ROLLUP_DURATION (pillar hummer:monitoring:rollup).
RP_ROLLUP = "rollup_1h"
ROLLUP_DURATION = "365d"
ROLLUP_INTERVAL = "1h"
ROLLUP_FUNCTION = "mean"

# ---------------------------------------------------------------------------- tags on every point

#: The node the point comes from: Telegraf's agent hostname, the node's Kubernetes name.
TAG_HOST = "host"
#: The cluster's name, a global tag of telegraf.conf.
TAG_CLUSTER = "cluster"
_GLOBAL = (TAG_HOST, TAG_CLUSTER)


@dataclass(frozen=True)
class Measurement:
    """One measurement as Telegraf writes it: its tags (the global ones included), the
    fields the portal reads, which of those are cumulative counters, and which Telegraf
    writes as floats (the others are integers)."""
    name: str
    input: str                      # the Telegraf input plugin that writes it
    tags: tuple[str, ...]
    fields: tuple[str, ...]
    counters: frozenset[str] = frozenset()
    floats: frozenset[str] = frozenset()

    def __post_init__(self):
        if not (self.counters <= set(self.fields) and self.floats <= set(self.fields)):
            raise ValueError(f"{self.name}: counters and floats must be among its fields")


# ---------------------------------------------------------------------------- host inputs

class Cpu:
    """inputs.cpu with percpu = false, totalcpu = true: one series per host, tag cpu=cpu-total;
    the fields are percentages of all the host's CPU time (floats)."""
    NAME = "cpu"
    TAG_CPU = "cpu"
    TOTAL = "cpu-total"
    USAGE_IDLE = "usage_idle"
    USAGE_USER = "usage_user"
    USAGE_SYSTEM = "usage_system"
    USAGE_IOWAIT = "usage_iowait"
    USAGE_STEAL = "usage_steal"
    MEASUREMENT = Measurement(NAME, "cpu", (*_GLOBAL, TAG_CPU),
                              (USAGE_IDLE, USAGE_USER, USAGE_SYSTEM, USAGE_IOWAIT, USAGE_STEAL),
                              floats=frozenset({USAGE_IDLE, USAGE_USER, USAGE_SYSTEM, USAGE_IOWAIT, USAGE_STEAL}))


class Mem:
    """inputs.mem: bytes (integers) and used_percent (a float)."""
    NAME = "mem"
    TOTAL = "total"
    USED = "used"
    AVAILABLE = "available"
    USED_PERCENT = "used_percent"
    MEASUREMENT = Measurement(NAME, "mem", _GLOBAL, (TOTAL, USED, AVAILABLE, USED_PERCENT),
                              floats=frozenset({USED_PERCENT}))


class Disk:
    """inputs.disk: one series per mounted filesystem (tag path, the mount point; device,
    fstype); bytes (integers) and used_percent (a float)."""
    NAME = "disk"
    TAG_PATH = "path"
    TAG_DEVICE = "device"
    TAG_FSTYPE = "fstype"
    TOTAL = "total"
    USED = "used"
    FREE = "free"
    USED_PERCENT = "used_percent"
    MEASUREMENT = Measurement(NAME, "disk", (*_GLOBAL, TAG_PATH, TAG_DEVICE, TAG_FSTYPE),
                              (TOTAL, USED, FREE, USED_PERCENT), floats=frozenset({USED_PERCENT}))


class Net:
    """inputs.net: one series per network interface (tag interface); byte counters since boot."""
    NAME = "net"
    TAG_INTERFACE = "interface"
    BYTES_RECV = "bytes_recv"
    BYTES_SENT = "bytes_sent"
    MEASUREMENT = Measurement(NAME, "net", (*_GLOBAL, TAG_INTERFACE), (BYTES_RECV, BYTES_SENT),
                              counters=frozenset({BYTES_RECV, BYTES_SENT}))


class System:
    """inputs.system: load averages (floats), the number of CPUs and the uptime in seconds."""
    NAME = "system"
    LOAD1 = "load1"
    LOAD5 = "load5"
    LOAD15 = "load15"
    N_CPUS = "n_cpus"
    UPTIME = "uptime"
    MEASUREMENT = Measurement(NAME, "system", _GLOBAL, (LOAD1, LOAD5, LOAD15, N_CPUS, UPTIME),
                              floats=frozenset({LOAD1, LOAD5, LOAD15}))


# ---------------------------------------------------------------------------- the kubernetes input

TAG_NAMESPACE = "namespace"
TAG_POD = "pod_name"
TAG_CONTAINER = "container_name"
TAG_NODE = "node_name"


class PodContainer:
    """kubernetes_pod_container: one series per container of each pod on the node. CPU in
    nanocores (1e9 = one core, the kubelet's rate over its last sample), memory in bytes
    (the working set is what the kubelet evicts by and what `kubectl top` shows)."""
    NAME = "kubernetes_pod_container"
    TAG_NAMESPACE = TAG_NAMESPACE
    TAG_POD = TAG_POD
    TAG_CONTAINER = TAG_CONTAINER
    TAG_NODE = TAG_NODE
    CPU_NANOCORES = "cpu_usage_nanocores"
    MEMORY_WORKING_SET = "memory_working_set_bytes"
    MEMORY_USAGE = "memory_usage_bytes"
    MEMORY_RSS = "memory_rss_bytes"
    MEASUREMENT = Measurement(NAME, "kubernetes", (*_GLOBAL, TAG_NAMESPACE, TAG_POD, TAG_CONTAINER, TAG_NODE),
                              (CPU_NANOCORES, MEMORY_WORKING_SET, MEMORY_USAGE, MEMORY_RSS))


class PodNetwork:
    """kubernetes_pod_network: one series per pod (its network namespace); byte counters
    since the pod started."""
    NAME = "kubernetes_pod_network"
    TAG_NAMESPACE = TAG_NAMESPACE
    TAG_POD = TAG_POD
    TAG_NODE = TAG_NODE
    RX_BYTES = "rx_bytes"
    TX_BYTES = "tx_bytes"
    MEASUREMENT = Measurement(NAME, "kubernetes", (*_GLOBAL, TAG_NAMESPACE, TAG_POD, TAG_NODE),
                              (RX_BYTES, TX_BYTES), counters=frozenset({RX_BYTES, TX_BYTES}))


class Node:
    """kubernetes_node: the node as its kubelet sees it (every pod and system process): CPU
    in nanocores, memory and filesystem in bytes, network byte counters."""
    NAME = "kubernetes_node"
    TAG_NODE = TAG_NODE
    CPU_NANOCORES = "cpu_usage_nanocores"
    MEMORY_WORKING_SET = "memory_working_set_bytes"
    MEMORY_AVAILABLE = "memory_available_bytes"
    FS_USED = "fs_used_bytes"
    FS_CAPACITY = "fs_capacity_bytes"
    NETWORK_RX_BYTES = "network_rx_bytes"
    NETWORK_TX_BYTES = "network_tx_bytes"
    MEASUREMENT = Measurement(NAME, "kubernetes", (*_GLOBAL, TAG_NODE),
                              (CPU_NANOCORES, MEMORY_WORKING_SET, MEMORY_AVAILABLE, FS_USED, FS_CAPACITY,
                               NETWORK_RX_BYTES, NETWORK_TX_BYTES),
                              counters=frozenset({NETWORK_RX_BYTES, NETWORK_TX_BYTES}))


# ---------------------------------------------------------------------------- written by the portal

class Autoscaler:
    """hummer_hpa: each HorizontalPodAutoscaler Hummer manages, once a minute, as its status
    said then. Telegraf cannot read an HPA's status, so the portal writes these points itself
    (portal/services/metrics/autoscalers.py), into the default (raw) policy like Telegraf's,
    rolled up the same way. Each point's time is truncated to the minute: InfluxDB keeps one
    point per measurement, tag set and time, so the same minute written by several portal
    processes is one point. No `host` or `cluster` tag: the portal knows one cluster.
    The HPA's name is its app's (Hummer names it so); the fields are integers."""
    NAME = "hummer_hpa"
    TAG_NAMESPACE = TAG_NAMESPACE
    TAG_HPA = "hpa"
    CURRENT = "current_replicas"
    DESIRED = "desired_replicas"
    MIN = "min_replicas"
    MAX = "max_replicas"
    MEASUREMENT = Measurement(NAME, "portal", (TAG_NAMESPACE, TAG_HPA), (CURRENT, DESIRED, MIN, MAX))


HOST_MEASUREMENTS = (Cpu.MEASUREMENT, Mem.MEASUREMENT, Disk.MEASUREMENT, Net.MEASUREMENT, System.MEASUREMENT)
KUBERNETES_MEASUREMENTS = (PodContainer.MEASUREMENT, PodNetwork.MEASUREMENT, Node.MEASUREMENT)
#: Every measurement Telegraf writes and the portal reads, by name.
MEASUREMENTS: dict[str, Measurement] = {m.name: m for m in HOST_MEASUREMENTS + KUBERNETES_MEASUREMENTS}
#: The measurements the portal writes itself (no Telegraf input).
PORTAL_MEASUREMENTS = (Autoscaler.MEASUREMENT,)
#: What the rollup keeps: {measurement: its fields}, each as ROLLUP_FUNCTION per ROLLUP_INTERVAL.
ROLLUP: dict[str, tuple[str, ...]] = {m.name: m.fields for m in (*MEASUREMENTS.values(), *PORTAL_MEASUREMENTS)}
#: The Telegraf inputs telegraf.conf must have ([[inputs.<name>]]) for these measurements.
TELEGRAF_INPUTS = tuple(dict.fromkeys(m.input for m in MEASUREMENTS.values()))
