"""The autoscalers' history: Telegraf cannot read a HorizontalPodAutoscaler's status, so the
portal records it.

Every portal process's supervisor calls `sweep(app)` at each beat (about once a second); at
most once a minute per process it writes, for each HPA Hummer manages, one point of
`hummer_hpa` (domain/metrics.py, Autoscaler): its current and desired replicas and its
minimum and maximum, tagged with the namespace and the HPA's name. The HPAs come from the
Kubernetes adapter's watch cache, never from a list call per tick; while that cache has not
its first list, or has lost its watch (its figures may be old), nothing is written.

No lock between processes is needed: every point's time is truncated to the minute, and
InfluxDB keeps one point per measurement, tag set and time (a later write of the same point
replaces the earlier one's fields). Two processes (or hosts) writing the same minute leave
one point, with the figures of whichever wrote last; both read the same HPA status within
the watch's latency.

    autoscalers.sweep(app)                       # the supervisor's hook: written points, or 0
    autoscalers.record(now=...)                  # one minute's points now (an app context)
    autoscalers.points(hpas, now)                # the points, for a test or a bench
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from flask import Flask

from portal.adapters import influx
from portal.adapters import kube as kube_adapter
from portal.domain.metrics import Autoscaler
from portal.extensions import db
from portal.services import kube_access
from portal.services.errors import Unavailable
from portal.services.metrics import reading

__all__ = ["EVERY", "minute_of", "points", "record", "sweep"]

log = logging.getLogger(__name__)
EVERY = 60.0          # seconds between a process's records: one a minute
_lock = threading.Lock()
_next = 0.0           # monotonic time of this process's next record


def minute_of(now: datetime) -> int:
    """`now` truncated to the minute, in epoch seconds: the time of that minute's points."""
    seconds = int(now.timestamp())
    return seconds - seconds % 60


def points(hpas, now: datetime) -> list[dict]:
    """One hummer_hpa point per HPA (kube HpaView) at `now`'s minute."""
    at = minute_of(now)
    return [{"measurement": Autoscaler.NAME,
             "tags": {Autoscaler.TAG_NAMESPACE: h.namespace, Autoscaler.TAG_HPA: h.name},
             "fields": {Autoscaler.CURRENT: int(h.current_replicas), Autoscaler.DESIRED: int(h.desired_replicas),
                        Autoscaler.MIN: int(h.min), Autoscaler.MAX: int(h.max)},
             "time": at} for h in hpas if h.namespace and h.name]


def record(now: datetime | None = None) -> int:
    """Write this minute's point of every HPA Hummer manages (in an app context); how many
    were written. 0 without InfluxDB or a cluster, or while the cache is not to be trusted."""
    if not reading.configured() or not kube_access.configured():
        return 0
    k = kube_access.kube()
    hpas = k.all_hpas()
    if hpas is None or k.watch_error("horizontalpodautoscalers"):
        return 0
    found = points(hpas, now or datetime.now(timezone.utc))
    if found:
        reading.client().write(found, time_precision="s")
    return len(found)


def sweep(app: Flask) -> int:
    """The supervisor's hook: record() at most once a minute in this process; never raises
    for InfluxDB or the cluster being away (a log line; the next minute tries again)."""
    global _next
    if not app.config.get("INFLUXDB_URL"):
        return 0
    with _lock:
        if time.monotonic() < _next:
            return 0
        _next = time.monotonic() + EVERY
    with app.app_context():
        try:
            return record()
        except influx.InfluxError as error:
            log.warning("autoscaler history: not written this minute: %s", error.message)
        except (Unavailable, kube_adapter.KubeError) as error:
            log.warning("autoscaler history: no HPAs this minute: %s", getattr(error, "message", error))
        finally:
            db.session.remove()
    return 0
