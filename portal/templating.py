"""View helpers for the templates: relative times, numbers and sizes in the user's language
(Babel), audit actions in words, where am I, and the CSRF field of every form.

Filters: reltime (<time> with "3 min ago", the exact time on hover), ago (the same words as
text), age and since (Kubernetes' timestamps: "3m", "3m ago"), number ("1,234,567"), size
("1.5 GiB"), label (portal/labels.py) and action_words (the audit log's actions).

Registered on the app by init_app(); nothing here reads a role: routes pass what a page
may show, or the user's Role, which a template asks only through role.at_least(Role.X)
(the comparison authz makes; tests/test_templates.py refuses role strings in templates).
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_decimal
from babel.units import format_unit
from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from portal import i18n
from portal.labels import label
from portal.models import Role
from portal.services import audit

# request.endpoint (or its blueprint) -> the top navigation entry it belongs to
_SECTIONS = {"dashboard.index": "dashboard", "admin.audit_log": "audit"}
_SECTION_PREFIXES = (("admin.user", "users"), ("admin.plan", "plans"), ("projects.", "projects"),
                     ("apps.", "projects"), ("volumes.", "projects"), ("cluster.", "cluster"),
                     ("admin.registry", "cluster"), ("admin.volume", "cluster"))
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


def _english_ago(seconds: int, then: datetime) -> str:
    """Hummer's own short English words (older than CLDR's "3 min. ago", "2 hr. ago")."""
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        days = seconds // 86400
        return f"{days} day{'s' if days > 1 else ''} ago"
    return then.strftime("%Y-%m-%d")


def ago(then: datetime, now: datetime | None = None, locale: Locale | str | None = None) -> str:
    """'just now', '3 min ago', '2 h ago', '5 days ago', or the date for older ones; in
    Chinese '刚刚', '3分钟前', '2小时前', '5天前', '2020年1月2日' (Babel, for the locale).

    The unit and count are the same in every language: minutes below an hour, hours below a
    day, days below 30 days (Babel may say weeks), then the date."""
    now = now or datetime.now(timezone.utc)
    locale = Locale.parse(locale) if locale else i18n.current()
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return _("in the future")
    if seconds < 45:
        return _("just now")
    if locale.language == "en":
        return _english_ago(seconds, then)
    if seconds < 3600:
        delta = timedelta(minutes=max(1, round(seconds / 60)))
    elif seconds < 86400:
        delta = timedelta(hours=seconds // 3600)
    elif seconds < 30 * 86400:
        delta = timedelta(days=seconds // 86400)
    else:
        return format_date(then, "medium", locale=locale)
    return format_timedelta(-delta, threshold=1, add_direction=True, format="short", locale=locale)


def exact_time(then: datetime, locale: Locale | None = None) -> str:
    """The exact moment in UTC, as the hover text shows it."""
    locale = locale or i18n.current()
    if locale.language == "en":
        return then.strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_datetime(then, "medium", tzinfo=timezone.utc, locale=locale) + " UTC"


def reltime(value: datetime | str | None) -> Markup:
    """<time> with the relative time as text and the exact time and zone on hover."""
    then = _as_utc(value)
    if then is None:
        return Markup("")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        then.strftime("%Y-%m-%dT%H:%M:%SZ"), exact_time(then), ago(then))


def timestamp(value: float | None) -> Markup:
    """The `timestamp` filter: a file's modification time (seconds since the epoch) as reltime shows it."""
    if value is None:
        return Markup("")
    return reltime(datetime.fromtimestamp(value, timezone.utc))


def ago_text(value: datetime | str | None) -> str:
    """The `ago` filter: reltime's words without the <time> element ("" for no time)."""
    then = _as_utc(value)
    return ago(then) if then is not None else ""


# Kubernetes-style ages: the largest whole unit, floored ("2h" for 2 h 50 min), as kubectl shows them.
AGE_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _age_parts(value, now: datetime | None) -> tuple[str, int] | None:
    then = _as_utc(value)
    if then is None:
        return None
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - then).total_seconds()))
    for unit, size in AGE_UNITS:
        if seconds >= size or unit == "second":
            return unit, seconds // size
    return None


def age(value: datetime | str | None, now: datetime | None = None) -> str:
    """The `age` filter, for Kubernetes' timestamps (RFC 3339) in tables: '20s', '3m', '2h',
    '5d'; in Chinese '3分钟', '2小时' (CLDR's narrow units, for the locale)."""
    parts = _age_parts(value, now)
    if parts is None:
        return ""
    unit, count = parts
    return _narrow_unit(count, unit, str(i18n.current()))


@functools.lru_cache(maxsize=4096)
def _narrow_unit(count: int, unit: str, locale: str) -> str:
    """'3m' for (3, 'minute', 'en'): Babel takes ~50 us a call, and an app page with 50 pods
    asks for the same few ages again and again."""
    return format_unit(count, f"duration-{unit}", length="narrow", locale=locale)


def since(value: datetime | str | None, now: datetime | None = None) -> str:
    """The `since` filter: the age with its direction, '3m ago', '2h ago'; in Chinese
    '3分钟前' (Babel's narrow relative form, for the locale). Seven days or more may read as
    weeks ('1w ago')."""
    parts = _age_parts(value, now)
    if parts is None:
        return ""
    unit, count = parts
    size = dict(AGE_UNITS)[unit]
    return format_timedelta(timedelta(seconds=-count * size), threshold=1, add_direction=True,
                            format="narrow", locale=i18n.current())


def number(value) -> str:
    """The `number` filter: 1234567 -> '1,234,567', with the locale's separators."""
    if value is None or value == "":
        return ""
    try:
        return format_decimal(value, locale=i18n.current())
    except (TypeError, ValueError, ArithmeticError):
        return str(value)


SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def size(value) -> str:
    """The `size` filter: a number of bytes in binary units, '1.5 GiB', '512 MiB', '900 B'
    (one decimal at most, the locale's separators; IEC symbols are the same in every language)."""
    if value is None or value == "":
        return ""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    locale = i18n.current()
    if abs(amount) < 1024:
        return f"{format_decimal(int(amount), locale=locale)} B"
    power = 0
    while abs(amount) >= 1024 and power < len(SIZE_UNITS):
        amount /= 1024
        power += 1
    return f"{format_decimal(round(amount, 1), format='#,##0.#', locale=locale)} {SIZE_UNITS[power - 1]}"


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
    if endpoint.startswith(("apps.", "alerts.app_")):
        return "apps"
    if endpoint.startswith(("images.", "builds.")):
        return "images"
    if endpoint.startswith("volumes."):
        return "volumes"
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
    app.add_template_filter(ago_text, "ago")
    app.add_template_filter(timestamp, "timestamp")
    app.add_template_filter(since, "since")
    # apps/routes.py still registers an English-only `age` of its own, which wins (blueprints
    # register later): this one is meant to replace it.
    app.add_template_filter(age, "age")
    app.add_template_filter(number, "number")
    app.add_template_filter(size, "size")
    app.add_template_filter(action_words, "action_words")
    app.add_template_filter(label, "label")
    app.add_template_global(nav_section)
    app.add_template_global(project_tab)
    app.add_template_global(switcher_projects)
    app.add_template_global(current)
    app.add_template_global(csrf_input)
    app.add_template_global(Role, "Role")
