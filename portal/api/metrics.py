"""An app's metrics as JSON: the Monitoring tab's charts (CPU, memory, network of its pods,
and its autoscaler's replicas), each with its title, unit and series of [time, value], read
by the same service as the tab (services/metrics app_charts) over the tab's ranges
(services/metrics/ranges.py). Viewers and up, as the tab. A 503 when InfluxDB is not
configured or did not answer, with the tab's words; a 503 too without the cluster, which
says when the app was created (its series start then) and whether it has an autoscaler.
A node's metrics are the admins' pages only: an API token is at most a developer's."""
from __future__ import annotations

from datetime import UTC, datetime

from spectree import Response

from portal.api import schemas
from portal.api import schemas_monitoring as ms
from portal.api.core import bp, project_for, spec
from portal.services import apps, metrics
from portal.services.errors import Unavailable

TAG = "monitoring"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_422": schemas.Problem,
          "HTTP_429": schemas.Problem, "HTTP_503": schemas.Problem}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chart_body(chart: metrics.Chart, step: int) -> ms.Chart:
    return ms.Chart(key=chart.key, title=str(chart.title), unit=chart.unit, step=chart.step or step,
                    steps=chart.steps, more=chart.more,
                    series=[ms.MetricSeries(label=str(s.label), points=[[t, v] for t, v in s.points])
                            for s in chart.series])


@bp.get("/projects/<name>/apps/<app>/metrics")
@spec.validate(query=ms.MetricsQuery, resp=Response(HTTP_200=ms.Metrics, **ERRORS), tags=[TAG],
               operation_id="getAppMetrics")
def app_metrics(name: str, app: str, query: ms.MetricsQuery):
    """The app's charts over a range: ?range=1h, 6h (the default), 24h, 7d, 30d, or
    ?range=custom&start=…&end=… (a wrong one is a 422 beside the field). Each chart has its
    unit and its series (each pod and their sum, received and sent, current and desired
    replicas), at most about 300 points each."""
    project, _role = project_for(name)
    tr = metrics.ranges.parse(query.range, query.start, query.end)
    d = apps.detail(project, app)
    panel = metrics.app_charts(project.name, d.app.name, d.app.metrics_since, tr, d.hpa.name if d.hpa else "")
    if panel.problem:
        raise Unavailable(panel.problem)
    return ms.Metrics(project=project.name, app=d.app.name, range=tr.preset, start=_iso(tr.start),
                      end=_iso(tr.end), step=tr.step, rollup=tr.rollup,
                      charts=[chart_body(c, tr.step) for c in panel.charts])
