"""Line charts drawn on the server as SVG: no chart library, nothing for the CSP to allow,
and a chart that reads without JavaScript. Hovering a time band shows every series' value
at that moment (an SVG <title>, which browsers show as a tooltip and screen readers read);
the legend below names each series with its latest value. Colours come from hummer.css
(.s0 … .s7), each at least 3:1 against the background.

    chart(series, unit="cores", start=…, end=…, step=60) -> Markup
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape

from portal import i18n
from portal.templating import SIZE_UNITS

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 24
COLOURS = 8


@dataclass
class Series:
    label: str
    points: list[tuple[float, float]] = field(default_factory=list)  # (epoch seconds, value), by time

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None


def formatter(unit: str) -> Callable[[float | None], str]:
    """The text of a value in `unit` (cores with up to 3 decimals, bytes in binary units, rates
    per second, replicas), its translated words and the locale's separators looked up once: a
    chart formats every series' value at every time."""
    if unit in ("bytes", "bytes/s"):
        locale = i18n.current()
        symbols = str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})
        per_second = _("%(size)s/s", size="%(size)s")

        def size_text(value: float) -> str:
            # as templating.size: binary units, one decimal at most, the locale's separators
            if abs(value) < 1024:
                return f"{int(value):,}".translate(symbols) + " B"
            power = 0
            while abs(value) >= 1024 and power < len(SIZE_UNITS):
                value /= 1024
                power += 1
            number = f"{round(value, 1):,.1f}"
            number = number[:-2] if number.endswith(".0") else number
            return f"{number.translate(symbols)} {SIZE_UNITS[power - 1]}"
        if unit == "bytes":
            return lambda value: "–" if value is None else size_text(value)
        return lambda value: "–" if value is None else per_second % {"size": size_text(value)}
    if unit == "cores":
        cores = _("%(num)s cores", num="%(num)s")
        return lambda value: "–" if value is None else cores % {
            "num": f"{value:.3f}".rstrip("0").rstrip(".") or "0"}
    if unit == "%":
        return lambda value: "–" if value is None else f"{value:.1f} %"
    if unit == "replicas":
        one = ngettext("%(count)s replica", "%(count)s replicas", 1, count="%(count)s")
        many = ngettext("%(count)s replica", "%(count)s replicas", 2, count="%(count)s")

        def replicas(value: float | None) -> str:
            if value is None:
                return "–"
            number = f"{value:.2f}".rstrip("0").rstrip(".") or "0"
            return (one if number == "1" else many) % {"count": number}
        return replicas
    return lambda value: "–" if value is None else f"{value:.3g}"


def _nice_max(top: float) -> float:
    """A round top for the y axis at or above `top` (1, 2, 2.5 or 5 times a power of ten, or
    of 1024 for bytes)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= top)


def _nice_bytes(top: float) -> float:
    if top <= 0:
        return 1024.0
    power = 1024 ** max(0, math.floor(math.log(top, 1024)))
    return next(m * power for m in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024) if m * power >= top)


def _time_label(t: float, span: float) -> str:
    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.strftime("%H:%M") if span <= 2 * 86400 else moment.strftime("%m-%d")


def chart(series: list[Series], unit: str, start: datetime, end: datetime, step: int, title: str,
          steps: bool = False) -> Markup:
    """The SVG (and its legend), or a "no data" box when no series has a point. `steps`: each
    value holds until the next one (a count such as replicas), drawn as a staircase."""
    if not any(s.points for s in series):
        return Markup('<div class="chart-empty" role="img" aria-label="{t}"><p>{m}</p></div>').format(
            t=title, m=_("No data in this range."))
    t0, t1 = start.timestamp(), end.timestamp()
    span = max(t1 - t0, 1.0)
    top = max((v for s in series for _t, v in s.points), default=0.0)
    top = _nice_bytes(top) if unit in ("bytes", "bytes/s") else _nice_max(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    text_of = formatter(unit)

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v / top) * plot_h

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" preserveAspectRatio="none">',
             f"<title>{escape(title)}</title>"]
    for i in range(5):  # horizontal grid and y labels
        v = top * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y(v) + 4:.1f}" text-anchor="end">'
                     f"{escape(text_of(v))}</text>")
    for i in range(5):  # time labels
        t = t0 + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text class="axis" x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
                     f"{escape(_time_label(t, span))}</text>")
    for n, s in enumerate(series):  # the lines, broken where points are missing
        run: list[str] = []
        last_t = None
        last_v = 0.0
        for t, v in s.points:
            if last_t is not None and t - last_t > 2.5 * step and run:
                parts.append(_line(run, n))
                run = []
            if steps and run and v != last_v:
                run.append(f"{x(t):.1f},{y(last_v):.1f}")
            run.append(f"{x(t):.1f},{y(v):.1f}")
            last_t, last_v = t, v
        if run:
            parts.append(_line(run, n))
    # hover bands: one per time step, its title lists every series' value then
    by_time: dict[float, list[str]] = {}
    for s in series:
        for t, v in s.points:
            by_time.setdefault(t, []).append(f"{s.label}: {text_of(v)}")
    band = max(plot_w * step / span, 1.0)
    for t in sorted(by_time):
        when = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        text = "\n".join([when, *by_time[t]])
        parts.append(f'<rect class="hover" x="{x(t) - band / 2:.1f}" y="{TOP}" width="{band:.1f}" '
                     f'height="{plot_h}"><title>{escape(text)}</title></rect>')
    parts.append("</svg>")
    legend = "".join(f'<li><span class="swatch s{n % COLOURS}" aria-hidden="true"></span>{escape(s.label)} '
                     f"<strong>{escape(text_of(s.last))}</strong></li>" for n, s in enumerate(series))
    return Markup("".join(parts) + f'<ul class="legend">{legend}</ul>')


def _line(points: list[str], n: int) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle class="line s{n % COLOURS}" cx="{x}" cy="{y}" r="2"/>'
    return f'<polyline class="line s{n % COLOURS}" points="{" ".join(points)}"/>'


def draw(panel, tr) -> list[tuple[object, Markup]]:
    """Each chart of a metrics Panel with its SVG, over the TimeRange `tr`."""
    return [(c, chart(c.series, c.unit, tr.start, tr.end, getattr(c, "step", 0) or tr.step, c.title,
                      getattr(c, "steps", False))) for c in panel.charts]
