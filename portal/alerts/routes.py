"""An app's alert rules (its Monitoring tab loads the list) and its alert history.

    GET       /projects/<name>/apps/<app>/alerts                      rules, their state, what fires (viewer+)
    GET, POST /projects/<name>/apps/<app>/alerts/new                  add a rule (developer+)
    GET, POST /projects/<name>/apps/<app>/alerts/<rule_id>/edit       change it (developer+)
    GET, POST /projects/<name>/apps/<app>/alerts/<rule_id>/delete     the confirm page; delete (developer+)
    GET       /projects/<name>/apps/<app>/alerts/history              every firing, newest first (viewer+)

None of them needs the cluster: rules are the portal's own rows, keyed by the app's name.
A node's rules are in nodes.py."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.alerts import bp
from portal.alerts.forms import form_for
from portal.forms import attach
from portal.models import AlertKind, Role
from portal.services import alerts, authz
from portal.services.errors import Invalid
from portal.templating import number, size
from portal.web import actor, paginate, redirect_to, render


@bp.before_request
@login_required
def require_login():
    """Every alert URL needs a logged-in user; the roles are checked per route."""


@bp.app_template_global("alert_value")
def alert_value(value, kind: str, metric: str = "", node: bool = False) -> str:
    """A rule's or an event's value (or threshold) with its unit: 0.75 cores, 160 MiB, 2 KiB/s, 92.5 %."""
    if value is None:
        return _("no data")
    unit = alerts.unit_of(kind, metric, node)
    if unit == "cores":
        return _("%(num)s cores", num=number(round(value, 3)))
    if unit == "bytes":
        return size(value)
    if unit == "bytes/s":
        return size(value) + "/s"
    if unit == "%":
        return f"{number(round(value, 1))} %"
    return number(int(value)) if kind != AlertKind.METRIC else number(value)


@bp.app_template_global("alert_rule_words")
def alert_rule_words(rule) -> str:
    return alerts.summary(rule, bool(rule.node))


def _target(name: str, app: str, need: Role = Role.VIEWER):
    project, role = authz.get_project(current_user, name, need)
    return alerts.RuleTarget.of_app(project, alerts.check_app_name(app)), role


def _links(target) -> dict:
    """The endpoint prefix and arguments the shared templates build their URLs with."""
    if target.is_node:
        return {"ep": "alerts.node_", "args": {"node": target.node}}
    return {"ep": "alerts.app_", "args": {"name": target.project.name, "app": target.app}}


def rules_page(target, may_change: bool, **context):
    firing = alerts.firing_of_node(target.node) if target.is_node else alerts.firing_of_app(target.project,
                                                                                          target.app)
    return render("alerts/rules.html", "alerts/_rules.html", target=target, rules=alerts.rules_of(target),
                  firing=firing, may_change=may_change, **_links(target), **context)


def save(target, rule, done_url: str, page_context: dict):
    """The form of a new rule (rule None) or of `rule`: shown, or saved and back to the list."""
    form = form_for(target, rule)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                if rule is None:
                    alerts.create(actor(), target, **form.values())
                else:
                    alerts.update(actor(), rule, **form.values())
            except Invalid as error:
                attach(form, error)
                status = 422
            else:
                flash(_("Alert rule saved.") if rule is None else _("Alert rule changed; it is judged afresh."),
                      "success")
                return redirect_to(done_url)
        else:
            status = 400
    return render("alerts/rule_form.html", "alerts/_rule_form.html", status=status, form=form, rule=rule,
                  target=target, done_url=done_url, **_links(target), **page_context)


def remove(target, rule, done_url: str, page_context: dict):
    words = alerts.summary(rule, target.is_node)
    if request.method == "GET":  # the confirm page, for browsers without JavaScript
        return render("_confirm.html", question=_("Delete the alert rule “%(rule)s”?", rule=words),
                      consequence=_("An alert it has firing ends now; its history stays."),
                      label=_("Delete the rule"), action=request.path, cancel=done_url, **page_context)
    alerts.delete(actor(), rule)
    if request.htmx and request.htmx.target:
        return ""  # the row goes away
    flash(_("Alert rule “%(rule)s” deleted.", rule=words), "success")
    return redirect_to(done_url)


# An app's rules --------------------------------------------------------------------------

@bp.route("/projects/<name>/apps/<app>/alerts")
def app_rules(name, app):
    target, role = _target(name, app)
    return rules_page(target, role.at_least(Role.DEVELOPER), project=target.project, role=role, app_name=app)


@bp.route("/projects/<name>/apps/<app>/alerts/new", methods=["GET", "POST"])
def app_new(name, app):
    target, role = _target(name, app, Role.DEVELOPER)
    return save(target, None, url_for("alerts.app_rules", name=name, app=app),
                {"project": target.project, "role": role, "app_name": app})


@bp.route("/projects/<name>/apps/<app>/alerts/<int:rule_id>/edit", methods=["GET", "POST"])
def app_edit(name, app, rule_id):
    target, role = _target(name, app, Role.DEVELOPER)
    return save(target, alerts.get(target, rule_id), url_for("alerts.app_rules", name=name, app=app),
                {"project": target.project, "role": role, "app_name": app})


@bp.route("/projects/<name>/apps/<app>/alerts/<int:rule_id>/delete", methods=["GET", "POST"])
def app_delete(name, app, rule_id):
    target, role = _target(name, app, Role.DEVELOPER)
    return remove(target, alerts.get(target, rule_id), url_for("alerts.app_rules", name=name, app=app),
                  {"project": target.project, "role": role})


@bp.route("/projects/<name>/apps/<app>/alerts/history")
def app_history(name, app):
    target, role = _target(name, app)
    page = paginate(alerts.app_history(target.project, app))
    return render("alerts/history.html", "alerts/_history.html", target=target, page=page,
                  project=target.project, role=role, app_name=app, **_links(target))
