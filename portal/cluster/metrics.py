"""A node's metrics (admins, as every cluster page): CPU, memory, disk and network from the
host inputs Telegraf writes, over a chosen time range.

    GET /cluster/nodes/<node>/metrics?range=24h"""
from __future__ import annotations

from flask import request

from portal.charts import draw
from portal.cluster import bp
from portal.services import metrics
from portal.services.errors import NotFound
from portal.web import render


@bp.route("/nodes/<node>/metrics")
def node_metrics(node):
    if not metrics.valid_node(node):
        raise NotFound(metrics.NO_SUCH_NODE)
    tr, error = metrics.ranges.from_args(request.args)
    panel = metrics.node_charts(node, tr)
    return render("cluster/node_metrics.html", "cluster/_node_metrics.html", status=422 if error else 200,
                  node=node, tr=tr, panel=panel, drawn=draw(panel, tr), error=error,
                  presets=metrics.ranges.PRESETS, args=request.args)
