"""A node's alert rules (admins; the node's metrics page loads the list), with its latest
firings.

    GET       /cluster/nodes/<node>/alerts                      rules, state, what fires and fired
    GET, POST /cluster/nodes/<node>/alerts/new                  add a rule
    GET, POST /cluster/nodes/<node>/alerts/<rule_id>/edit       change it
    GET, POST /cluster/nodes/<node>/alerts/<rule_id>/delete     the confirm page; delete"""
from __future__ import annotations

from flask import url_for
from flask_login import current_user

from portal.alerts import bp
from portal.alerts.routes import remove, rules_page, save
from portal.services import alerts, authz, metrics
from portal.services.errors import NotFound


def _target(node: str):
    authz.require_admin(current_user)
    if not metrics.valid_node(node):
        raise NotFound(metrics.NO_SUCH_NODE)
    return alerts.RuleTarget.of_node(node)


@bp.route("/cluster/nodes/<node>/alerts")
def node_rules(node):
    target = _target(node)
    return rules_page(target, True, node=node, history=alerts.node_history(node))


@bp.route("/cluster/nodes/<node>/alerts/new", methods=["GET", "POST"])
def node_new(node):
    target = _target(node)
    return save(target, None, url_for("cluster.node_metrics", node=node), {"node": node})


@bp.route("/cluster/nodes/<node>/alerts/<int:rule_id>/edit", methods=["GET", "POST"])
def node_edit(node, rule_id):
    target = _target(node)
    return save(target, alerts.get(target, rule_id), url_for("cluster.node_metrics", node=node), {"node": node})


@bp.route("/cluster/nodes/<node>/alerts/<int:rule_id>/delete", methods=["GET", "POST"])
def node_delete(node, rule_id):
    target = _target(node)
    return remove(target, alerts.get(target, rule_id), url_for("cluster.node_metrics", node=node), {"node": node})
