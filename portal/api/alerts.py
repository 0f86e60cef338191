"""An app's alert rules and its alert history, onto services/alerts as the app's alert pages
(one rule, one validation, one audit): viewers read, developers change. The fields are the
rule form's, judged by the same check (services/alerts/rules.py): a wrong one is a 422
problem naming the field. Like the pages, none of this needs the cluster: rules are the
portal's own rows, keyed by the app's name. A node's rules are the admins' (the cluster
pages): an API token is at most a developer's, so they are not here."""
from __future__ import annotations

from spectree import Response

from portal.api import schemas
from portal.api import schemas_monitoring as ms
from portal.api.core import actor, bp, page_links, project_for, spec
from portal.extensions import db
from portal.models import Role
from portal.services import alerts

TAG = "alerts"
ERRORS = {"HTTP_401": schemas.Problem, "HTTP_404": schemas.Problem, "HTTP_429": schemas.Problem}
CHANGE_ERRORS = {**ERRORS, "HTTP_403": schemas.Problem, "HTTP_422": schemas.Problem}
RULE = "/projects/<name>/apps/<app>/alerts/rules"



def _target(name: str, app: str, need: Role = Role.VIEWER):
    project, role = project_for(name, need)
    return alerts.RuleTarget.of_app(project, alerts.check_app_name(app)), role


def rule_body(rule, may_change: bool) -> ms.AlertRule:
    state = rule.state
    if not rule.enabled:
        status = ms.RuleState(status="disabled")
    elif state is None:
        status = ms.RuleState(status="ok")
    else:
        evaluated = state.evaluated_at is not None
        status = ms.RuleState(status=state.status, since=schemas.when(state.since),
                              value=state.value if evaluated else None, evaluated_at=schemas.when(state.evaluated_at))
    return ms.AlertRule(id=rule.id, app=rule.app, kind=rule.kind, metric=rule.metric,
                        unit=alerts.unit_of(rule.kind, rule.metric, False), comparison=rule.comparison,
                        threshold=rule.threshold, threshold_text=rule.threshold_text,
                        for_=alerts.format_duration(rule.for_seconds), for_seconds=rule.for_seconds,
                        webhook=bool(rule.webhook_url), webhook_url=rule.webhook_url if may_change else None,
                        enabled=rule.enabled, summary=alerts.summary(rule, False), state=status,
                        created_by=rule.created_by, created_at=schemas.when(rule.created_at) or "",
                        updated_at=schemas.when(rule.updated_at) or "")


def _may_change(role: Role) -> bool:
    return role.at_least(Role.DEVELOPER)


@bp.get(RULE)
@spec.validate(resp=Response(HTTP_200=ms.AlertRuleList, **ERRORS), tags=[TAG], operation_id="listAlertRules")
def alert_rule_list(name: str, app: str):
    """The app's rules, oldest first, each with its state at the last evaluation (ok,
    pending, firing, or disabled), since when, and the last value judged."""
    target, role = _target(name, app)
    firing = alerts.firing_of_app(target.project, target.app)
    return ms.AlertRuleList(items=[rule_body(r, _may_change(role)) for r in alerts.rules_of(target)],
                            firing=len(firing))


@bp.get(RULE + "/<int:rule_id>")
@spec.validate(resp=Response(HTTP_200=ms.AlertRule, **ERRORS), tags=[TAG], operation_id="getAlertRule")
def alert_rule_get(name: str, app: str, rule_id: int):
    """One rule and its state."""
    target, role = _target(name, app)
    return rule_body(alerts.get(target, rule_id), _may_change(role))


@bp.post(RULE)
@spec.validate(json=ms.RuleFields, resp=Response(HTTP_201=ms.AlertRule, **CHANGE_ERRORS), tags=[TAG],
               operation_id="createAlertRule")
def alert_rule_create(name: str, app: str, json: ms.RuleFields):
    """Add a rule (developer), as the rule form does: at most 50 for one app."""
    target, _role = _target(name, app, Role.DEVELOPER)
    return rule_body(alerts.create(actor(), target, **json.values()), True), 201


@bp.put(RULE + "/<int:rule_id>")
@spec.validate(json=ms.RuleFields, resp=Response(HTTP_200=ms.AlertRule, **CHANGE_ERRORS), tags=[TAG],
               operation_id="replaceAlertRule")
def alert_rule_replace(name: str, app: str, rule_id: int, json: ms.RuleFields):
    """Replace the rule's fields (developer; fields left out take the form's defaults). An
    alert it has firing ends, and the rule is judged afresh."""
    target, _role = _target(name, app, Role.DEVELOPER)
    rule = alerts.update(actor(), alerts.get(target, rule_id), **json.values())
    return rule_body(rule, True)


@bp.patch(RULE + "/<int:rule_id>")
@spec.validate(json=ms.RuleChange, resp=Response(HTTP_200=ms.AlertRule, **CHANGE_ERRORS), tags=[TAG],
               operation_id="updateAlertRule")
def alert_rule_update(name: str, app: str, rule_id: int, json: ms.RuleChange):
    """Change some of the rule's fields (developer), such as {"enabled": false}; the others
    keep their values. As with a replacement, the rule is judged afresh."""
    target, _role = _target(name, app, Role.DEVELOPER)
    rule = alerts.get(target, rule_id)
    current = ms.RuleFields(kind=rule.kind, metric=rule.metric, comparison=rule.comparison,
                            threshold=rule.threshold_text, for_=alerts.format_duration(rule.for_seconds),
                            webhook_url=rule.webhook_url, enabled=rule.enabled)
    merged = current.model_copy(update=json.model_dump(exclude_none=True))
    return rule_body(alerts.update(actor(), rule, **merged.values()), True)


@bp.delete(RULE + "/<int:rule_id>")
@spec.validate(resp=Response(HTTP_200=ms.RuleDeleted, **CHANGE_ERRORS), tags=[TAG], operation_id="deleteAlertRule")
def alert_rule_delete(name: str, app: str, rule_id: int):
    """Delete the rule (developer): an alert it has firing ends now; its history stays."""
    target, _role = _target(name, app, Role.DEVELOPER)
    rule = alerts.get(target, rule_id)
    gone = rule.id
    alerts.delete(actor(), rule)
    return ms.RuleDeleted(deleted=gone)


def event_body(event) -> ms.AlertEvent:
    return ms.AlertEvent(id=event.id, rule_id=event.rule_id, summary=event.summary, kind=event.kind,
                         metric=event.metric, unit=alerts.unit_of(event.kind, event.metric, False),
                         comparison=event.comparison, threshold=event.threshold, value=event.value,
                         resolved_value=event.resolved_value,
                         pending_since=schemas.when(event.pending_since) or "",
                         firing_since=schemas.when(event.firing_since) or "",
                         resolved_at=schemas.when(event.resolved_at), note=event.note)


@bp.get("/projects/<name>/apps/<app>/alerts/history")
@spec.validate(query=schemas.PageQuery, resp=Response(HTTP_200=ms.AlertHistory, HTTP_422=schemas.Problem, **ERRORS),
               tags=[TAG], operation_id="listAlertHistory")
def alert_history(name: str, app: str, query: schemas.PageQuery):
    """Every firing of the app's rules, newest first: what fires now (resolved_at null) and
    what fired before, with the values then."""
    target, _role = _target(name, app)
    stmt = alerts.app_history(target.project, target.app)
    page = db.paginate(stmt, page=query.page, per_page=query.per_page, error_out=False)
    if page.page > 1 and page.page > page.pages:  # past the end: the last page, as the pages do
        page = db.paginate(stmt, page=max(1, page.pages), per_page=query.per_page, error_out=False)
    return ms.AlertHistory(items=[event_body(e) for e in page.items], page=page.page, per_page=page.per_page,
                           total=page.total or 0,
                           links=page_links(page.page, max(page.pages, 1), per_page=query.per_page))
