"""Alerts: rules on an app's metrics, restarts or unavailable replicas, or on a node's
metrics; one evaluator per cluster judging them every HUMMER_ALERT_INTERVAL seconds; the
history of what fired; webhooks.

    target = alerts.RuleTarget.of_app(project, "web")     # or RuleTarget.of_node("hm-node1")
    alerts.create(actor, target, kind="metric", metric="cpu", comparison=">", threshold="0.5",
                  for_="2m", webhook_url="", enabled=True)
    alerts.evaluation.tick(now)                            # judge every rule once (the tests' clock)
    alerts.firing_of_app(project, "web"); alerts.board(user)  # what the pages show

Modules: values.py (the metrics a rule may name and their latest values, one InfluxDB
request), rules.py (checks, create/update/delete with role and audit), evaluation.py (the
lease, tick, the supervisor's sweep), webhook.py (delivery in background threads, retried
with backoff), history.py (what fires and fired, for the pages).
"""
from __future__ import annotations

from portal.services.alerts import evaluation, values, webhook
from portal.services.alerts.history import (
    Board,
    app_history,
    board,
    firing_of_app,
    firing_of_node,
    node_history,
)
from portal.services.alerts.rules import (
    COMPARISONS,
    RuleTarget,
    check_app_name,
    create,
    delete,
    forget_app,
    forget_project,
    format_duration,
    get,
    metrics_for,
    require,
    rules_of,
    summary,
    unit_of,
    update,
)
from portal.services.provisioning import supervision

__all__ = ["Board", "COMPARISONS", "RuleTarget", "app_history", "board", "check_app_name", "create", "delete",
           "evaluation", "firing_of_app", "firing_of_node", "forget_app", "forget_project", "format_duration",
           "get", "init_app", "metrics_for", "node_history", "require", "rules_of", "summary", "unit_of",
           "update", "values", "webhook"]


def init_app(app) -> None:
    """Every process's supervisor tries the evaluator's lease at its beats."""
    supervision.also_sweep(evaluation.sweep)
