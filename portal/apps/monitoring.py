"""An app's Monitoring tab: CPU, memory and network of its pods from InfluxDB, restarts and
the autoscaler now from the API and its replicas over time (as the portal recorded them), over
a chosen time range.

    GET /projects/<name>/apps/<app>/monitoring?range=6h                 the tab (viewer and up)
    GET /projects/<name>/apps/<app>/monitoring?range=custom&start=…&end=…

The charts' section polls the same URL (its fragment) every 30 s while the range ends now."""
from __future__ import annotations

from flask import request
from flask_login import current_user

from portal.apps import bp
from portal.charts import draw
from portal.services import apps, authz, metrics
from portal.web import render


@bp.route("/<app>/monitoring")
def monitoring(name, app):
    project, role = authz.get_project(current_user, name)
    d = apps.detail(project, app)
    tr, error = metrics.ranges.from_args(request.args)
    panel = metrics.app_charts(project.name, d.app.name, d.app.metrics_since, tr, d.hpa.name if d.hpa else "")
    return render("apps/monitoring.html", "apps/_monitoring.html", status=422 if error else 200, project=project,
                  role=role, d=d, tr=tr, panel=panel, drawn=draw(panel, tr), error=error,
                  presets=metrics.ranges.PRESETS, restarts=sum(p.restarts for p in d.pods), args=request.args)
