"""Metrics from InfluxDB, as the charts show them: an app's pods (CPU, memory, network), a
node's host metrics; and whether metrics can be read at all.

    panel = metrics.app_charts(project, app_view, time_range)   # Panel: charts or why not
    metrics.ranges.parse("7d")                                   # the ?range= of a chart page

Telegraf writes the points (its measurement and tag names: domain/metrics.py); the queries
group by time so that a series has at most about 300 points, and read the 1-hour rollup for
long ranges. The autoscalers' history is the portal's own (autoscalers.py: one point per
HPA a minute, written by each process's supervisor). An app's series are its Deployment's
pods since the Deployment was created: an old app's series under the same name never show
(they expire with the retention policy).
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from portal.services.metrics import autoscalers, ranges
from portal.services.metrics.reading import Chart, Overview, Panel, app_charts, configured, node_charts, overview

__all__ = ["Chart", "NO_SUCH_NODE", "Overview", "Panel", "app_charts", "autoscalers", "configured", "init_app",
           "node_charts", "overview", "ranges", "valid_node"]

NO_SUCH_NODE = _l("No such node.")
NODE_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9._]{0,252})", re.ASCII)


def init_app(app) -> None:
    from portal.services.provisioning import supervision
    supervision.also_sweep(autoscalers.sweep)


def valid_node(name: str) -> bool:
    """A host name as Telegraf tags it (a minion id, a Kubernetes node name)."""
    return bool(NODE_NAME.fullmatch(name or ""))
