"""The time range of a chart: a preset (1 h, 6 h, 24 h, 7 d, 30 d) ending now, or a custom
range; and the step that gives at most about MAX_POINTS points per series, on the raw data
or, for steps of an hour and more, on the 1-hour rollup."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.services.errors import Invalid

MAX_POINTS = 300
RAW_STEP = 10                     # seconds: Telegraf's interval
ROLLUP_STEP = 3600                # seconds: the rollup's resolution
STEPS = (10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
LONGEST = timedelta(days=400)
PRESETS = {"1h": (timedelta(hours=1), _l("1 hour")), "6h": (timedelta(hours=6), _l("6 hours")),
           "24h": (timedelta(hours=24), _l("24 hours")), "7d": (timedelta(days=7), _l("7 days")),
           "30d": (timedelta(days=30), _l("30 days"))}
DEFAULT = "6h"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TimeRange:
    start: datetime               # aware, UTC
    end: datetime
    preset: str                   # a PRESETS key, or "custom"

    @property
    def live(self) -> bool:
        """The range ends now: the chart refreshes itself."""
        return self.preset != "custom"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def step(self) -> int:
        """Seconds per point: the smallest step of STEPS giving at most MAX_POINTS points."""
        wanted = self.seconds / MAX_POINTS
        return next((s for s in STEPS if s >= wanted), STEPS[-1] * math.ceil(wanted / STEPS[-1]))

    @property
    def rollup(self) -> bool:
        """Read the 1-hour rollup (the raw data is not kept that long, and would be too much)."""
        return self.step >= ROLLUP_STEP


def parse(preset: str | None, start: str | None = None, end: str | None = None,
          now: datetime | None = None) -> TimeRange:
    """The range a chart page asks for (?range=7d, or ?range=custom&start=…&end=…, ISO times
    as a datetime-local field sends them, read as UTC). Invalid beside the field otherwise."""
    now = now or utcnow()
    preset = (preset or DEFAULT).strip()
    if preset in PRESETS:
        return TimeRange(now - PRESETS[preset][0], now, preset)
    if preset != "custom":
        raise Invalid("range", _("Choose 1 hour, 6 hours, 24 hours, 7 days, 30 days or a custom range."))
    begin, finish = _time(start, "start"), _time(end, "end")
    if finish <= begin:
        raise Invalid("end", _("The end must come after the start."))
    if finish - begin > LONGEST:
        raise Invalid("start", _("A range is at most 400 days."))
    if begin > now:
        raise Invalid("start", _("The start is in the future."))
    return TimeRange(begin, min(finish, now), "custom")


def _time(value: str | None, field: str) -> datetime:
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text) if 10 <= len(text) <= 40 else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise Invalid(field, _("Give a date and time such as 2026-12-01T08:00."))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def from_args(args) -> tuple[TimeRange, Invalid | None]:
    """The range a page's query string asks for; a wrong one gives the default range and its
    error (shown beside the field, the charts still drawn)."""
    try:
        return parse(args.get("range"), args.get("start"), args.get("end")), None
    except Invalid as error:
        return parse(None), error
