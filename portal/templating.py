"""View helpers for the templates: relative times, audit actions in words, where am I, and
the CSRF field of every form.

Registered on the app by init_app(); nothing here reads a role: routes pass what a page
may show, or the user's Role, which a template asks only through role.at_least(Role.X)
(the comparison authz makes; tests/test_templates.py refuses role strings in templates).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, current_app, request
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal.labels import label
from portal.models import Role
from portal.services import audit

# request.endpoint (or its blueprint) -> the top navigation entry it belongs to
_SECTIONS = {"dashboard.index": "dashboard", "admin.audit_log": "audit"}
_SECTION_PREFIXES = (("admin.user", "users"), ("admin.plan", "plans"), ("projects.", "projects"),
                     ("apps.", "projects"), ("cluster.", "cluster"))
# request.endpoint -> the project tab it belongs to
_TABS = {"projects.detail": "overview", "projects.members": "members", "projects.add_member": "members",
         "projects.change_role": "members", "projects.remove_member": "members",
         "projects.audit_log": "audit", "projects.settings": "settings", "projects.quota": "settings",
         "projects.delete": "settings"}
SWITCHER_SIZE = 15


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:  # the database keeps naive UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def ago(then: datetime, now: datetime | None = None) -> str:
    """'just now', '3 min ago', '2 h ago', '5 days ago', or the date for older ones."""
    now = now or datetime.now(timezone.utc)
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        days = seconds // 86400
        return f"{days} day{'s' if days > 1 else ''} ago"
    return then.strftime("%Y-%m-%d")


def reltime(value: datetime | str | None) -> Markup:
    """<time> with the relative time as text and the exact time and zone on hover."""
    then = _as_utc(value)
    if then is None:
        return Markup("")
    exact = then.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        then.strftime("%Y-%m-%dT%H:%M:%SZ"), exact, ago(then))


def action_words(action: str) -> str:
    return audit.describe(action)


def nav_section() -> str:
    endpoint = request.endpoint or ""
    if endpoint in _SECTIONS:
        return _SECTIONS[endpoint]
    for prefix, section in _SECTION_PREFIXES:
        if endpoint.startswith(prefix):
            return section
    return ""


def project_tab() -> str:
    endpoint = request.endpoint or ""
    if endpoint.startswith("apps."):
        return "apps"
    return _TABS.get(endpoint, "")


def switcher_projects():
    """The projects the user may switch to from a project's header (a short list)."""
    from portal.extensions import db
    from portal.services import projects
    if not current_user.is_authenticated:
        return []
    return list(db.session.scalars(projects.visible_to(current_user).limit(SWITCHER_SIZE)))


def current(flag: bool) -> Markup:
    """aria-current="page" when flag is true: the link to the page being shown."""
    return Markup(' aria-current="page"') if flag else Markup("")


def csrf_input() -> Markup:
    """The hidden CSRF field: every form that posts carries it, and CSRFProtect (global,
    extensions.csrf) refuses any POST without a valid token, whatever the view."""
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    return Markup('<input name="{}" type="hidden" value="{}">').format(name, generate_csrf())


def init_app(app: Flask) -> None:
    app.add_template_filter(reltime, "reltime")
    app.add_template_filter(action_words, "action_words")
    app.add_template_filter(label, "label")
    app.add_template_global(nav_section)
    app.add_template_global(project_tab)
    app.add_template_global(switcher_projects)
    app.add_template_global(current)
    app.add_template_global(csrf_input)
    app.add_template_global(Role, "Role")
    app.add_template_global(get_locale)  # base.html: <html lang>
