"""Alert rules: checked, created, changed and deleted with the role and an audit event.

    rules.create(actor, RuleTarget.of_app(project, "web"), kind="metric", metric="cpu",
                 comparison=">", threshold="0.5", for_="2m", webhook_url="", enabled=True)
    rules.update(actor, rule, **the same fields)    # the rule starts again from "ok"
    rules.delete(actor, rule)

An app's rules: developers and up change them, viewers read them. A node's: admins only.
A change ends an alert that is firing (its history says why) and forgets the rule's state:
the next evaluation judges the new rule from the start.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from flask_babel import gettext as _
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import selectinload

from portal import validation
from portal.extensions import db
from portal.models import AlertEvent, AlertKind, AlertRule, AlertState, Project, Role, utcnow
from portal.services import audit, authz
from portal.services.alerts.values import APP_METRICS, NODE_METRICS
from portal.services.context import Actor
from portal.services.errors import Invalid, NotFound
from portal.templating import number

COMPARISONS = (">", "<")
FOR_MAX = 86400                    # a day
COUNT_MAX = 1_000_000              # restarts, replicas
PERCENT = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3})?$", re.ASCII)
DURATION = re.compile(r"^([0-9]{1,6})\s*(s|m|h)?$", re.ASCII)
URL_MAX = 2000
RULES_MAX = 50                     # per app or node: each is judged every interval


@dataclass(frozen=True)
class RuleTarget:
    """What a rule watches: an app of a project, or a node."""
    project: Project | None = None
    app: str = ""
    node: str = ""

    @classmethod
    def of_app(cls, project: Project, app: str) -> RuleTarget:
        return cls(project=project, app=app)

    @classmethod
    def of_node(cls, node: str) -> RuleTarget:
        return cls(node=node)

    @classmethod
    def of_rule(cls, rule: AlertRule) -> RuleTarget:
        return cls(project=rule.project, app=rule.app, node=rule.node)

    @property
    def is_node(self) -> bool:
        return bool(self.node)


def require(user, target: RuleTarget, change: bool) -> None:
    """Viewers read an app's rules, developers change them; a node's are the admins'."""
    if target.is_node:
        authz.require_admin(user)
    else:
        authz.require(user, target.project, Role.DEVELOPER if change else Role.VIEWER)


# Checks ------------------------------------------------------------------------------

def metrics_for(target: RuleTarget) -> dict:
    return NODE_METRICS if target.is_node else APP_METRICS


def unit_of(kind: str, metric: str, node: bool) -> str:
    if kind != AlertKind.METRIC:
        return ""
    found = (NODE_METRICS if node else APP_METRICS).get(metric)
    return found.unit if found else ""


def _threshold(text: str, kind: str, unit: str) -> float:
    text = (text or "").strip()
    if not text:
        raise Invalid("threshold", _("Give the threshold."))
    if kind != AlertKind.METRIC:
        if not text.isascii() or not text.isdigit() or int(text) > COUNT_MAX:
            raise Invalid("threshold", _("A whole number from 0 to %(max)s.", max=number(COUNT_MAX)))
        return float(int(text))
    if unit == "%":
        if not PERCENT.match(text) or Decimal(text) > 100:
            raise Invalid("threshold", _("A percentage from 0 to 100, such as 85 or 92.5."))
        return float(Decimal(text))
    value = validation.parse_quantity(text)
    if value is None or value < 0:
        example = "0.5, 250m" if unit == "cores" else "512Mi, 2G, 1000000"
        raise Invalid("threshold", _("'%(value)s' is not a number; write it like %(example)s.",
                                     value=text[:32], example=example))
    if value > validation.MEMORY_MAX:
        raise Invalid("threshold", _("That threshold is too large."))
    return float(value)


def parse_duration(text: str) -> int:
    """"90", "90s", "5m", "1h" -> seconds; Invalid beside `for_` otherwise."""
    match = DURATION.match((text or "").strip() or "0")
    if not match:
        raise Invalid("for_", _("A duration such as 0, 90s, 5m or 1h."))
    seconds = int(match[1]) * {"s": 1, None: 1, "m": 60, "h": 3600}[match[2]]
    if seconds > FOR_MAX:
        raise Invalid("for_", _("At most 24 hours (24h)."))
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest way to write it back: 0, 90s, 5m, 2h."""
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s" if seconds else "0"


def check_webhook(url: str) -> str:
    url = (url or "").strip()
    if not url:
        return ""
    if len(url) > URL_MAX:
        raise Invalid("webhook_url", _("At most %(num)d characters.", num=URL_MAX))
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise Invalid("webhook_url", _("A URL has no spaces or control characters."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("webhook_url", _("An http:// or https:// URL, such as https://chat.example.com/hooks/ops."))
    if port == 0:
        raise Invalid("webhook_url", _("The port must be from 1 to 65535."))
    return url


@dataclass(frozen=True)
class Checked:
    kind: str
    metric: str
    comparison: str
    threshold: float
    threshold_text: str
    for_seconds: int
    webhook_url: str
    enabled: bool


def check(target: RuleTarget, kind: str, metric: str, comparison: str, threshold: str, for_: str,
          webhook_url: str, enabled: bool) -> Checked:
    """Every field judged; the first wrong one raises Invalid beside it."""
    kind = (kind or "").strip()
    kinds = (AlertKind.METRIC,) if target.is_node else tuple(AlertKind)
    if kind not in kinds:
        raise Invalid("kind", _("Choose a metric.") if target.is_node
                      else _("Choose a metric, restarts or replicas unavailable."))
    metric = (metric or "").strip() if kind == AlertKind.METRIC else ""
    if kind == AlertKind.METRIC and metric not in metrics_for(target):
        raise Invalid("metric", _("Choose one of: %(names)s.",
                                  names=", ".join(str(m.label) for m in metrics_for(target).values())))
    if comparison not in COMPARISONS:
        raise Invalid("comparison", _("Choose above (>) or below (<)."))
    text = (threshold or "").strip()
    value = _threshold(text, kind, unit_of(kind, metric, target.is_node))
    return Checked(kind, metric, comparison, value, text, parse_duration(for_), check_webhook(webhook_url),
                   bool(enabled))


def check_app_name(app: str) -> str:
    message = validation.dns_label(app or "", _("An app name"))
    if message:
        raise NotFound(_("No such app."))
    return app


# Reading -----------------------------------------------------------------------------

def _of(target: RuleTarget):
    if target.is_node:
        return select(AlertRule).where(AlertRule.project_id.is_(None), AlertRule.node == target.node)
    return select(AlertRule).where(AlertRule.project_id == target.project.id, AlertRule.app == target.app)


def rules_of(target: RuleTarget) -> list[AlertRule]:
    """The rules with their state, in two queries however many there are."""
    return list(db.session.scalars(_of(target).options(selectinload(AlertRule.state)).order_by(AlertRule.id)))


def get(target: RuleTarget, rule_id: int) -> AlertRule:
    rule = db.session.scalar(_of(target).where(AlertRule.id == rule_id)) if validation.row_id(rule_id) else None
    if rule is None:
        raise NotFound(_("No such alert rule."))
    return rule


def summary(rule: AlertRule | Checked, node: bool) -> str:
    """The rule in words, in the current language: "CPU (cores) > 0.5 for 2m"."""
    if rule.kind == AlertKind.RESTARTS:
        what = _("Restarts")
    elif rule.kind == AlertKind.UNAVAILABLE:
        what = _("Replicas unavailable")
    else:
        found = (NODE_METRICS if node else APP_METRICS).get(rule.metric)
        what = str(found.label) if found else rule.metric
    words = f"{what} {rule.comparison} {rule.threshold_text}"
    if rule.for_seconds:
        words += " " + _("for %(duration)s", duration=format_duration(rule.for_seconds))
    return words


# Changing ----------------------------------------------------------------------------

def _target_name(target: RuleTarget) -> str:
    return target.node if target.is_node else target.app


def create(by: Actor, target: RuleTarget, **fields) -> AlertRule:
    require(by.user, target, change=True)
    if not target.is_node:
        check_app_name(target.app)
    checked = check(target, **fields)
    count = db.session.scalar(_of(target).with_only_columns(func.count(AlertRule.id)))
    if count >= RULES_MAX:
        raise Invalid(None, _("At most %(num)d rules for one app or node.", num=RULES_MAX))
    rule = AlertRule(project=target.project, app=target.app, node=target.node, created_by=by.user.username,
                     **asdict(checked))
    db.session.add(rule)
    audit.record(by, "alert.create", "alert", _target_name(target), project=target.project,
                 detail=summary(checked, target.is_node))
    db.session.commit()
    return rule


def _end(rule: AlertRule, note: str) -> None:
    """The rule's firing alert ends now (its history says why); its state is forgotten."""
    db.session.execute(sql_update(AlertEvent).where(AlertEvent.rule_id == rule.id, AlertEvent.resolved_at.is_(None))
                       .values(resolved_at=utcnow(), note=note).execution_options(synchronize_session=False))
    db.session.execute(sql_delete(AlertState).where(AlertState.rule_id == rule.id)
                       .execution_options(synchronize_session=False))
    db.session.expire(rule, ["state"])


def update(by: Actor, rule: AlertRule, **fields) -> AlertRule:
    target = RuleTarget.of_rule(rule)
    require(by.user, target, change=True)
    checked = check(target, **fields)
    before = summary(rule, target.is_node)
    _end(rule, "rule changed")
    for key, value in asdict(checked).items():
        setattr(rule, key, value)
    audit.record(by, "alert.update", "alert", _target_name(target), project=target.project,
                 detail=f"{before} -> {summary(checked, target.is_node)}")
    db.session.commit()
    return rule


def delete(by: Actor, rule: AlertRule) -> None:
    target = RuleTarget.of_rule(rule)
    require(by.user, target, change=True)
    _end(rule, "rule deleted")
    # the history stays, without its rule (MariaDB's ON DELETE SET NULL; SQLite does not enforce it)
    db.session.execute(sql_update(AlertEvent).where(AlertEvent.rule_id == rule.id).values(rule_id=None)
                       .execution_options(synchronize_session=False))
    audit.record(by, "alert.delete", "alert", _target_name(target), project=target.project,
                 detail=summary(rule, target.is_node))
    db.session.delete(rule)
    db.session.commit()


def forget_app(project: Project, app: str) -> None:
    """An app was deleted: its rules, their state and its history go too (a new app of the same
    name starts with none). In the caller's transaction."""
    ids = select(AlertRule.id).where(AlertRule.project_id == project.id, AlertRule.app == app)
    db.session.execute(sql_delete(AlertState).where(AlertState.rule_id.in_(ids))
                       .execution_options(synchronize_session=False))
    db.session.execute(sql_delete(AlertEvent).where(AlertEvent.project_id == project.id, AlertEvent.app == app)
                       .execution_options(synchronize_session=False))
    db.session.execute(sql_delete(AlertRule).where(AlertRule.project_id == project.id, AlertRule.app == app)
                       .execution_options(synchronize_session=False))


def forget_project(project: Project) -> None:
    """Before a project's row is deleted (SQLite enforces no ON DELETE CASCADE)."""
    ids = select(AlertRule.id).where(AlertRule.project_id == project.id)
    db.session.execute(sql_delete(AlertState).where(AlertState.rule_id.in_(ids))
                       .execution_options(synchronize_session=False))
    for model in (AlertEvent, AlertRule):
        db.session.execute(sql_delete(model).where(model.project_id == project.id)
                           .execution_options(synchronize_session=False))
