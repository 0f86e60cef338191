"""The evaluator: every HUMMER_ALERT_INTERVAL seconds one portal process of the cluster judges
every enabled rule once.

    evaluation.tick(now)          # judge every rule at `now` (the tests call it with their clock)
    evaluation.claim(holder, now, interval)   # True: this holder evaluates now (the lease)

Every process's supervisor calls sweep(app) at each beat (about a second). At most every
LOOK_EVERY seconds a process tries to take the lease: one conditional UPDATE of the single
AlertLease row, which succeeds only when the lease has expired, and sets its expiry one
interval ahead. So when several processes or hosts try at once exactly one wins, and the next
evaluation is due one interval later, whoever takes it. The winner runs tick() in a thread
of its own, so that a slow InfluxDB never holds the supervisor.

A tick reads every metric rule's value from InfluxDB in one request (values.read) and the
restarts and unavailable replicas from the Kubernetes watch cache, then moves each rule:
  ok -> pending       the value breaches the threshold (no data never does)
  pending -> firing   it has breached for the rule's "for" duration: an AlertEvent opens
  firing -> ok        it no longer breaches: the event is resolved
A source that cannot be read (InfluxDB down, no cluster) leaves its rules as they were: an
outage neither fires nor resolves anything; the lease row keeps what could not be read.
Webhooks of what fired or resolved are queued after the commit (webhook.py).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.adapters import kube as kube_adapter
from portal.extensions import db
from portal.models import AlertEvent, AlertKind, AlertLease, AlertRule, AlertState, AlertStatus, utcnow
from portal.services import kube_access
from portal.services.alerts import rules as rules_module
from portal.services.alerts import values, webhook
from portal.services.errors import ServiceError

log = logging.getLogger(__name__)
LEASE_ID = 1
LOOK_EVERY = 5.0          # seconds between a process's tries to take the lease
PROBLEM_MAX = 500

_lock = threading.Lock()
_thread: threading.Thread | None = None
_next_look = 0.0


def holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"[:128]


def _naive(moment: datetime | None) -> datetime:
    """Naive UTC to the second, as both databases keep it."""
    moment = moment or utcnow()
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


# The lease ----------------------------------------------------------------------------

def _ensure_lease_row() -> None:
    table = AlertLease.__table__
    with db.engine.begin() as conn:
        if conn.execute(select(table.c.id).where(table.c.id == LEASE_ID)).first() is not None:
            return
    try:
        with db.engine.begin() as conn:
            conn.execute(insert(table).values(id=LEASE_ID, holder="", problem=""))
    except IntegrityError:
        pass  # another process made it first


def claim(who: str, now: datetime, interval: float) -> bool:
    """Take the lease if it has expired at `now`; True when `who` got it (and evaluates now).

    One UPDATE outside any session transaction: the database judges its WHERE on the newest
    row (SQLite under its write lock, InnoDB under the row lock)."""
    _ensure_lease_row()
    now = _naive(now)
    table = AlertLease.__table__
    with db.engine.begin() as conn:
        return conn.execute(update(table).where(
            table.c.id == LEASE_ID, or_(table.c.expires_at.is_(None), table.c.expires_at <= now),
        ).values(holder=who, taken_at=now, expires_at=now + timedelta(seconds=interval))).rowcount == 1


def lease() -> AlertLease | None:
    return db.session.get(AlertLease, LEASE_ID)


# One evaluation -----------------------------------------------------------------------

@dataclass
class Tick:
    at: datetime
    judged: int = 0
    fired: list[int] = field(default_factory=list)      # AlertEvent ids
    resolved: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notices: list[tuple[str, dict]] = field(default_factory=list, repr=False)  # (url, payload)


def _metric_values(found: list[AlertRule], now: datetime) -> dict[int, float | None]:
    latest = values.read({r.metric for r in found if not r.node}, {r.metric for r in found if r.node},
                         now.replace(tzinfo=timezone.utc))
    return {r.id: latest.nodes.get((r.node, r.metric)) if r.node
            else latest.apps.get((r.project.name, r.app, r.metric)) for r in found}


def _kube_values(found: list[AlertRule]) -> dict[int, float | None]:
    if not kube_access.configured():
        raise ServiceError(str(kube_access.NOT_CONFIGURED))
    kube = kube_access.kube()
    seen: dict[int, float | None] = {}
    for rule in found:
        ns = rule.project.name
        app = kube.app(ns, rule.app)
        if app is None:
            seen[rule.id] = None       # not deployed (now): no data
        elif rule.kind == AlertKind.RESTARTS:
            seen[rule.id] = float(sum(p.restarts for p in kube.pods(ns, rule.app)))
        else:
            seen[rule.id] = float(max(0, app.desired - app.available))
    return seen


def _breached(rule: AlertRule, value: float | None) -> bool:
    if value is None:
        return False
    return value > rule.threshold if rule.comparison == ">" else value < rule.threshold


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(rule: AlertRule, event: AlertEvent, state: str, value: float | None, at: datetime) -> dict:
    """The webhook's JSON body."""
    target = {"node": rule.node} if rule.node else {"project": rule.project.name, "app": rule.app}
    return {"rule": {"id": rule.id, "kind": rule.kind, "metric": rule.metric, "comparison": rule.comparison,
                     "threshold": rule.threshold, "for_seconds": rule.for_seconds, "summary": event.summary},
            "target": target, "state": state, "value": value, "threshold": rule.threshold, "at": _rfc3339(at)}


def _judge(rule: AlertRule, value: float | None, now: datetime, result: Tick) -> None:
    state = rule.state
    if state is None:
        state = AlertState(rule=rule, status=AlertStatus.OK.value)
        db.session.add(state)
    state.value, state.evaluated_at = value, now
    if _breached(rule, value):
        if state.status == AlertStatus.OK:
            state.status, state.since = AlertStatus.PENDING.value, now
        if state.status == AlertStatus.PENDING and (now - state.since).total_seconds() >= rule.for_seconds:
            event = AlertEvent(rule_id=rule.id, project_id=rule.project_id, app=rule.app, node=rule.node,
                               summary=rules_module.summary(rule, bool(rule.node)), kind=rule.kind,
                               metric=rule.metric, comparison=rule.comparison, threshold=rule.threshold,
                               value=value, pending_since=state.since, firing_since=now)
            db.session.add(event)
            db.session.flush()
            state.status, state.event_id = AlertStatus.FIRING.value, event.id
            result.fired.append(event.id)
            if rule.webhook_url:
                result.notices.append((rule.webhook_url, payload(rule, event, "firing", value, now)))
        return
    if state.status == AlertStatus.FIRING and state.event_id is not None:
        event = db.session.get(AlertEvent, state.event_id)
        if event is not None and event.resolved_at is None:
            event.resolved_at, event.resolved_value = now, value
            result.resolved.append(event.id)
            if rule.webhook_url:
                result.notices.append((rule.webhook_url, payload(rule, event, "resolved", value, now)))
    state.status, state.since, state.event_id = AlertStatus.OK.value, None, None


def tick(now: datetime | None = None) -> Tick:
    """Judge every enabled rule at `now` (naive UTC or aware; default: the clock) and commit;
    then queue the webhooks. Stored words are English (the history is read in any language)."""
    now = _naive(now)
    result = Tick(now)
    _ensure_lease_row()  # where the last evaluation is noted
    with force_locale("en"):
        found = list(db.session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))
                                        .options(selectinload(AlertRule.state), selectinload(AlertRule.project))
                                        .order_by(AlertRule.id)))
        seen: dict[int, float | None] = {}
        metric = [r for r in found if r.kind == AlertKind.METRIC]
        from_api = [r for r in found if r.kind != AlertKind.METRIC]
        if metric:
            try:
                seen.update(_metric_values(metric, now))
            except values.MetricsUnavailable as error:
                result.problems.append(error.message)
        if from_api:
            try:
                seen.update(_kube_values(from_api))
            except (ServiceError, kube_adapter.KubeError) as error:
                result.problems.append("Kubernetes: " + getattr(error, "message", str(error)))
        for rule in found:
            if rule.id in seen:
                _judge(rule, seen[rule.id], now, result)
                result.judged += 1
        row = lease()
        if row is not None:
            row.evaluated_at, row.problem = now, "; ".join(result.problems)[:PROBLEM_MAX]
        db.session.commit()
    for url, body in result.notices:
        webhook.send(url, body)
    if result.problems:
        log.warning("alerts: evaluated %d of %d rules: %s", result.judged, len(found), "; ".join(result.problems))
    return result


# Under the supervisor -----------------------------------------------------------------

def run_if_due(app: Flask, now: datetime | None = None, who: str | None = None) -> Tick | None:
    """Take the lease and evaluate, in this thread; None when another holder has it."""
    with app.app_context():
        try:
            now = _naive(now)
            if not claim(who or holder(), now, float(app.config["ALERT_INTERVAL"])):
                return None
            return tick(now)
        finally:
            db.session.remove()


def sweep(app: Flask) -> bool:
    """At each supervisor beat: every LOOK_EVERY seconds at most, and unless this process's
    evaluation is still running, try the lease and evaluate in a thread. True when one started."""
    global _thread, _next_look
    with _lock:
        if (_thread is not None and _thread.is_alive()) or time.monotonic() < _next_look:
            return False
        _next_look = time.monotonic() + min(LOOK_EVERY, float(app.config["ALERT_INTERVAL"]))
        with app.app_context():
            try:
                now = _naive(None)
                if not claim(holder(), now, float(app.config["ALERT_INTERVAL"])):
                    return False
            finally:
                db.session.remove()
        _thread = threading.Thread(target=_run, args=(app, now), name="hummer-alert-evaluator", daemon=True)
        _thread.start()
        return True


def _run(app: Flask, now: datetime) -> None:
    with app.app_context():
        try:
            tick(now)
        except Exception:  # noqa: BLE001 - the next interval tries again
            log.exception("alerts: the evaluation failed")
            db.session.rollback()
        finally:
            db.session.remove()
