"""Alerts: the rules users write, the evaluator's state of each rule, the history of what
fired, and the lease that lets one portal process of the cluster evaluate at a time."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Double, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.accounts import Project
from portal.models.common import utcnow


class AlertKind(enum.StrEnum):
    """What a rule watches."""

    METRIC = "metric"            # a metric from InfluxDB against a threshold
    RESTARTS = "restarts"        # the app's pods' restarts (the API)
    UNAVAILABLE = "unavailable"  # the app's replicas wanted but not available (the API)


class AlertStatus(enum.StrEnum):
    """Where a rule stands at the last evaluation."""

    OK = "ok"
    PENDING = "pending"    # breached, not yet for the rule's "for" duration
    FIRING = "firing"


class AlertRule(db.Model):
    """A rule on an app of a project (project_id and app) or, for admins, on a node (node)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True,
                                                   default=None)
    app: Mapped[str] = mapped_column(String(63), default="")     # the Deployment's name
    node: Mapped[str] = mapped_column(String(255), default="")   # a node rule's host
    kind: Mapped[str] = mapped_column(String(16))                # an AlertKind
    metric: Mapped[str] = mapped_column(String(16), default="")  # services/alerts/values.py METRICS
    comparison: Mapped[str] = mapped_column(String(2), default=">")
    threshold: Mapped[float] = mapped_column(Double, default=0.0)
    threshold_text: Mapped[str] = mapped_column(String(32), default="")  # as typed: 512Mi, 0.5
    for_seconds: Mapped[int] = mapped_column(default=0)
    webhook_url: Mapped[str] = mapped_column(String(2000), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    project: Mapped[Project | None] = relationship()
    state: Mapped["AlertState | None"] = relationship(back_populates="rule", cascade="all, delete-orphan",
                                                      uselist=False)


class AlertState(db.Model):
    """The evaluator's state of one rule: written at each evaluation, never by a request
    (an edit of the rule deletes it: the rule starts again from "ok")."""

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rule.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OK.value)  # an AlertStatus
    since: Mapped[datetime | None] = mapped_column(default=None)   # breached since (pending and firing)
    value: Mapped[float | None] = mapped_column(Double, default=None)  # the last value seen (None: no data)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    event_id: Mapped[int | None] = mapped_column(default=None)     # the open AlertEvent while firing

    rule: Mapped[AlertRule] = relationship(back_populates="state")


class AlertEvent(db.Model):
    """One time a rule fired: from firing_since to resolved_at (None while it fires). It keeps
    what the rule said then, so that the history reads the same after the rule changes or goes."""

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rule.id", ondelete="SET NULL"), index=True,
                                                default=None)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True,
                                                   default=None)
    app: Mapped[str] = mapped_column(String(63), default="")
    node: Mapped[str] = mapped_column(String(255), default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # the rule in words (English, as stored)
    kind: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(16), default="")
    comparison: Mapped[str] = mapped_column(String(2), default=">")
    threshold: Mapped[float] = mapped_column(Double, default=0.0)
    value: Mapped[float | None] = mapped_column(Double, default=None)            # when it fired
    resolved_value: Mapped[float | None] = mapped_column(Double, default=None)   # when it resolved
    pending_since: Mapped[datetime] = mapped_column(default=utcnow)  # breached since
    firing_since: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    # why it ended other than by the value: "rule changed", "rule deleted", "rule disabled"
    note: Mapped[str] = mapped_column(String(64), default="")

    project: Mapped[Project | None] = relationship()


class AlertLease(db.Model):
    """One row: the process that evaluates the rules now, until expires_at. A process takes
    it with one conditional UPDATE (expires_at in the past), so when several processes or
    hosts try at once exactly one evaluates; it holds it for one interval, which is also
    when the next evaluation is due."""

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), default="")
    taken_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # the last evaluation: when it ran, and what it could not read ("" when it read everything)
    evaluated_at: Mapped[datetime | None] = mapped_column(default=None)
    problem: Mapped[str] = mapped_column(String(500), default="")
