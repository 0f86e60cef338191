"""The alert rule form, for an app's rules and a node's. As elsewhere the service judges the
values (services/alerts/rules.py check) and each message goes beside its field."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice

from portal.models import AlertKind
from portal.services import alerts

KINDS = [SelectChoice(AlertKind.METRIC.value, _l("A metric")),
         SelectChoice(AlertKind.RESTARTS.value, _l("Restarts of its pods")),
         SelectChoice(AlertKind.UNAVAILABLE.value, _l("Replicas unavailable"))]
COMPARISONS = [SelectChoice(">", _l("above (>)")), SelectChoice("<", _l("below (<)"))]


class AlertRuleForm(FlaskForm):
    kind = SelectField(_l("Watch"), choices=KINDS, validate_choice=False, default=AlertKind.METRIC.value)
    metric = SelectField(_l("Metric"), validate_choice=False,
                         description=_l("for a metric: the mean of the last minute (an app: all its pods together)"))
    comparison = SelectField(_l("Fires when the value is"), choices=COMPARISONS, validate_choice=False,
                             default=">")
    threshold = StringField(_l("Threshold"), description=_l(
        "cores (0.5, 250m), bytes (512Mi, 2G), bytes/s, a percentage, or a number of restarts or replicas"))
    for_ = StringField(_l("For"), default="5m", description=_l(
        "how long it must hold before the alert fires: 0, 90s, 5m, 1h (rules are judged once a minute)"))
    webhook_url = StringField(_l("Webhook URL"), description=_l(
        "optional: a JSON POST to this http(s) URL when the alert fires and when it resolves"))
    enabled = BooleanField(_l("Enabled"), default=True)

    def for_target(self, target: alerts.RuleTarget) -> AlertRuleForm:
        """The metrics of an app or of a node; a node's rules watch metrics only."""
        self.metric.choices = [SelectChoice(m.key, m.label) for m in alerts.metrics_for(target).values()]
        if target.is_node:
            self.kind.choices = KINDS[:1]
        return self

    def values(self) -> dict:
        return {"kind": self.kind.data, "metric": self.metric.data, "comparison": self.comparison.data,
                "threshold": self.threshold.data, "for_": self.for_.data, "webhook_url": self.webhook_url.data,
                "enabled": self.enabled.data}


def form_for(target: alerts.RuleTarget, rule=None) -> AlertRuleForm:
    """An empty form (new), or the rule's values (edit) unless the request carries new ones."""
    if rule is None:
        return AlertRuleForm().for_target(target)
    data = {"kind": rule.kind, "metric": rule.metric, "comparison": rule.comparison,
            "threshold": rule.threshold_text, "for_": alerts.format_duration(rule.for_seconds),
            "webhook_url": rule.webhook_url, "enabled": rule.enabled}
    return AlertRuleForm(data=data).for_target(target)
