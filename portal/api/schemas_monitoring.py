"""The monitoring area's request and response bodies (pydantic, the OpenAPI document's
schemas): an app's metrics as the Monitoring tab's charts hold them, its alert rules and
their history. As elsewhere the request models only shape the JSON; the rules are the
services' (services/metrics/ranges.py for the range, services/alerts/rules.py check for a
rule's fields, as the rule form)."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from portal.api.schemas import Links, Loose

# ----------------------------------------------------------------------------- metrics

Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[time, value]: Unix seconds "
                                     "(UTC) and the value in the chart's unit.")]


class MetricsQuery(Loose):
    range: str = Field("6h", max_length=16, description="1h, 6h (the default), 24h, 7d, 30d, or custom (with "
                                                         "start and end), as the Monitoring tab offers.")
    start: str = Field("", max_length=40, description="custom: an ISO time such as 2026-12-01T08:00 (UTC when "
                                                      "it has no offset).")
    end: str = Field("", max_length=40, description="custom: the range's end (at most now).")


class MetricSeries(BaseModel):
    label: str = Field(description="A pod's name, 'all pods', 'received', 'sent', 'current', 'desired'.")
    points: list[Point]


class Chart(BaseModel):
    key: str = Field(description="cpu, memory, network, or autoscaler (when the app has one).")
    title: str
    unit: str = Field(description="cores, bytes, bytes/s or replicas.")
    step: int = Field(description="Seconds per point.")
    steps: bool = Field(description="A count that changes at a moment (drawn as steps), not a rate.")
    more: int = Field(description="Pods left out (the ten busiest are given; the sum counts them all).")
    series: list[MetricSeries]


class Metrics(BaseModel):
    project: str
    app: str
    range: str = Field(description="The preset, or custom.")
    start: str = Field(description="The range's start (UTC). The series begin at the app's creation when "
                                   "that is later: an older app of the same name never shows.")
    end: str
    step: int = Field(description="Seconds per point of the pods' series (at most about 300 points).")
    rollup: bool = Field(description="Read from the 1-hour rollup (long ranges).")
    charts: list[Chart]


# ----------------------------------------------------------------------------- alerts

class RuleState(BaseModel):
    status: str = Field(description="ok, pending (breached, not yet for the rule's duration), firing, or "
                                    "disabled.")
    since: str | None = Field(None, description="Breached since (pending and firing), UTC.")
    value: float | None = Field(None, description="The last value judged, in the rule's unit; null: no data.")
    evaluated_at: str | None = Field(None, description="The last evaluation of the rule (null: not yet).")


class AlertRule(BaseModel):
    id: int
    app: str
    kind: str = Field(description="metric, restarts or unavailable.")
    metric: str = Field(description="A metric rule's metric: cpu, memory, rx or tx; '' otherwise.")
    unit: str = Field(description="The metric's unit (cores, bytes, bytes/s); '' for counts.")
    comparison: str = Field(description="> or <.")
    threshold: float = Field(description="In the unit: cores, bytes, bytes/s, or a count.")
    threshold_text: str = Field(description="As given: 0.5, 250m, 512Mi.")
    for_: str = Field(description="How long the breach must hold before the alert fires: 0, 90s, 5m, 1h.")
    for_seconds: int
    webhook: bool = Field(description="A webhook is called when the alert fires and resolves.")
    webhook_url: str | None = Field(None, description="The webhook's URL (developers; null for viewers, as on "
                                                      "the page).")
    enabled: bool
    summary: str = Field(description="The rule in words.")
    state: RuleState
    created_by: str
    created_at: str
    updated_at: str


class AlertRuleList(BaseModel):
    items: list[AlertRule]
    firing: int = Field(description="How many of the app's alerts fire now.")


Text = Annotated[str, Field(max_length=10_000)]


class RuleFields(Loose):
    """The rule form's fields: each judged by the same check as the page's form, a wrong one a
    422 naming the field."""

    kind: Text = Field("metric", description="metric (the default), restarts or unavailable.")
    metric: Text = Field("", description="For a metric rule: cpu, memory, rx (network received) or tx (sent).")
    comparison: Text = Field(">", description="> (above, the default) or < (below).")
    threshold: Text | int | float = Field("", description="cores (0.5, 250m), bytes (512Mi, 2G), bytes/s, or a "
                                                      "number of restarts or replicas.")
    for_: Text | int = Field("5m", description="0, 90s, 5m (the default), 1h: at most 24h. A number is seconds.")
    webhook_url: Text = Field("", description="Optional: a JSON POST to this http(s) URL when the alert fires "
                                              "and when it resolves.")
    enabled: bool = True

    def values(self) -> dict:
        return {"kind": self.kind, "metric": self.metric, "comparison": self.comparison,
                "threshold": str(self.threshold), "for_": str(self.for_), "webhook_url": self.webhook_url,
                "enabled": self.enabled}


class RuleChange(Loose):
    """Some of the rule form's fields: the others keep the rule's values."""

    kind: Text | None = None
    metric: Text | None = None
    comparison: Text | None = None
    threshold: Text | int | float | None = None
    for_: Text | int | None = None
    webhook_url: Text | None = None
    enabled: bool | None = None


class RuleDeleted(BaseModel):
    deleted: int = Field(description="The rule's id. An alert it had firing ended; its history stays.")


class AlertEvent(BaseModel):
    id: int
    rule_id: int | None = Field(description="null once the rule was deleted.")
    summary: str = Field(description="The rule in words, as it was when the alert fired.")
    kind: str
    metric: str
    unit: str
    comparison: str
    threshold: float
    value: float | None = Field(description="The value when it fired.")
    resolved_value: float | None = Field(description="The value when it resolved.")
    pending_since: str
    firing_since: str
    resolved_at: str | None = Field(description="null while it fires.")
    note: str = Field(description="Why it ended other than by the value: rule changed, rule deleted, rule "
                                  "disabled.")


class AlertHistory(BaseModel):
    items: list[AlertEvent]
    page: int
    per_page: int
    total: int
    links: Links
