"""Server-rendered SVG charts: price history that works without JavaScript.

Every function here is pure: data in, markup out, no Flask, no database. Text the person reads
(title, description, formatted prices and dates) is passed in by the caller, so translation and
locale formatting stay in the web layer while the geometry stays testable on its own.

The markup obeys the site's Content Security Policy (``style-src 'self'``): no ``style``
attributes, only SVG presentation attributes and classes. Lines and points are drawn in
``currentColor``, so the chart takes its colour from CSS (``.chart { color: … }``) and follows the
light/dark theme.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from markupsafe import Markup, escape

PricePointLike = tuple[datetime, Decimal]

# How finely the time axis is labelled. A history that fits in one day labelled with dates would
# show the same date at both ends; one of a few days needs the day and the time.
AxisScale = Literal["time", "day_time", "date"]
DAY_TIME_UNDER = timedelta(days=3)  # spans shorter than this (and a day or longer): day + time

WIDTH = 800
HEIGHT = 260
MARGIN_LEFT = 72  # room for the price labels
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 32  # room for the date labels
POINT_RADIUS = 3

_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class PriceSummary:
    """What a price history amounts to, for the chart's description and for page text."""

    count: int
    first: Decimal
    last: Decimal
    lowest: Decimal
    highest: Decimal
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Plot:
    """The drawing area inside the margins and the data ranges mapped onto it."""

    left: float
    top: float
    width: float
    height: float
    start: datetime
    end: datetime
    lowest: Decimal
    highest: Decimal

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, at: datetime, index: int, count: int) -> float:
        """Horizontal position by time; by position in the list when all times are equal."""
        span = (self.end - self.start).total_seconds()
        if span > 0:
            return self.left + (at - self.start).total_seconds() / span * self.width
        if count > 1:
            return self.left + index / (count - 1) * self.width
        return self.left

    def y(self, price: Decimal) -> float:
        """Vertical position; a flat history (all prices equal) is drawn across the middle."""
        spread = self.highest - self.lowest
        if spread == 0:
            return self.top + self.height / 2
        return self.top + float((self.highest - price) / spread) * self.height


def default_price(value: Decimal) -> str:
    """Two decimals, no currency: used when the caller gives no locale-aware formatter."""
    return f"{value:.2f}"


def default_date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def axis_scale(start: datetime, end: datetime) -> AxisScale:
    """Times under a day, day and time under ``DAY_TIME_UNDER``, dates beyond."""
    span = end - start
    if span < timedelta(days=1):
        return "time"
    if span < DAY_TIME_UNDER:
        return "day_time"
    return "date"


def default_axis_label(value: datetime, scale: AxisScale) -> str:
    """Axis text when the caller gives no locale-aware formatter (UTC, ISO-like)."""
    if scale == "time":
        return value.strftime("%H:%M")
    if scale == "day_time":
        return value.strftime("%Y-%m-%d %H:%M")
    return default_date(value)


def clean_points(points: Sequence[tuple[datetime, Decimal | None]]) -> list[PricePointLike]:
    """Points with a known price, oldest first (unknown prices are gaps, not zeros)."""
    known = [(at, Decimal(price)) for at, price in points if price is not None]
    return sorted(known, key=lambda point: point[0])


def summarise(points: Sequence[tuple[datetime, Decimal | None]]) -> PriceSummary | None:
    """First/last/lowest/highest price and the time span; None for an empty history."""
    known = clean_points(points)
    if not known:
        return None
    prices = [price for _, price in known]
    return PriceSummary(
        count=len(known),
        first=prices[0],
        last=prices[-1],
        lowest=min(prices),
        highest=max(prices),
        start=known[0][0],
        end=known[-1][0],
    )


def describe(
    summary: PriceSummary | None,
    format_price: Callable[[Decimal], str] = default_price,
    format_date: Callable[[datetime], str] = default_date,
) -> str:
    """A plain-English description for screen readers (callers may pass a translated one)."""
    if summary is None:
        return "No price has been recorded yet."
    if summary.count == 1:
        return f"One price recorded: {format_price(summary.first)} on {format_date(summary.start)}."
    return (
        f"{summary.count} prices from {format_date(summary.start)} to {format_date(summary.end)}: "
        f"first {format_price(summary.first)}, latest {format_price(summary.last)}, "
        f"lowest {format_price(summary.lowest)}, highest {format_price(summary.highest)}."
    )


def price_history_svg(
    points: Sequence[tuple[datetime, Decimal | None]],
    *,
    chart_id: str = "price-history",
    title: str = "Price history",
    desc: str | None = None,
    empty_text: str = "No price history yet",
    end_at: datetime | None = None,
    format_price: Callable[[Decimal], str] = default_price,
    format_date: Callable[[datetime], str] = default_date,
    format_axis: Callable[[datetime, AxisScale], str] | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """A step chart of a price over time, as SVG markup safe to embed in a page.

    Prices on DHgate hold until they change (history rows are written on change), so the line
    steps rather than slopes. ``end_at`` (usually "now") extends the last price to the right edge.
    Every recorded point is a ``circle.point`` with a tooltip; the lowest and highest prices are
    labelled on the axis (``text.label-min`` / ``text.label-max``; one label when they are equal).

    The time axis is labelled at its two ends (``text.label-start`` / ``text.label-end``) as fine
    as the span needs (see ``axis_scale``), through ``format_axis(value, scale)``; without it, a
    date scale uses ``format_date`` and finer scales ``default_axis_label``. Below date scale the
    points' tooltips carry the day and time too, so points of one day can be told apart.
    """
    known = clean_points(points)
    summary = summarise(known)
    svg_id = _SAFE_ID.sub("-", chart_id) or "chart"
    description = desc if desc is not None else describe(summary, format_price, format_date)
    parts: list[str] = [_open_svg(svg_id, width, height), _title_and_desc(svg_id, title, description)]
    if summary is None:
        parts.append(_empty(width, height, empty_text))
    else:
        plot = _plot_for(summary, end_at, width, height)
        scale = axis_scale(plot.start, plot.end)
        axis = _axis_formatter(format_axis, format_date)
        point_date = format_date if scale == "date" else (lambda at: axis(at, "day_time"))
        parts.append(_axes(plot))
        parts.append(_price_labels(plot, format_price))
        parts.append(_date_labels(plot, lambda at: axis(at, scale)))
        parts.append(_series(plot, known, format_price, point_date))
    parts.append("</svg>")
    return Markup("".join(parts))


# --------------------------------------------------------------------------- pieces


def _open_svg(svg_id: str, width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{svg_id}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{svg_id}-title {svg_id}-desc" focusable="false">'
    )


def _title_and_desc(svg_id: str, title: str, description: str) -> str:
    return (
        f'<title id="{svg_id}-title">{escape(title)}</title>'
        f'<desc id="{svg_id}-desc">{escape(description)}</desc>'
    )


def _empty(width: int, height: int, text: str) -> str:
    return (
        f'<rect class="frame" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" '
        f'fill="none" stroke="currentColor" stroke-dasharray="4 4" rx="6"/>'
        f'<text class="empty" x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
        f'dominant-baseline="middle" fill="currentColor">{escape(text)}</text>'
    )


def _plot_for(summary: PriceSummary, end_at: datetime | None, width: int, height: int) -> _Plot:
    end = summary.end
    if end_at is not None and end_at > end:
        end = end_at
    return _Plot(
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        width=max(width - MARGIN_LEFT - MARGIN_RIGHT, 1),
        height=max(height - MARGIN_TOP - MARGIN_BOTTOM, 1),
        start=summary.start,
        end=end,
        lowest=summary.lowest,
        highest=summary.highest,
    )


def _axes(plot: _Plot) -> str:
    return (
        f'<g class="axes" aria-hidden="true">'
        f'<line class="axis" x1="{plot.left:.1f}" y1="{plot.top:.1f}" x2="{plot.left:.1f}" '
        f'y2="{plot.bottom:.1f}" stroke="currentColor" stroke-width="1"/>'
        f'<line class="axis" x1="{plot.left:.1f}" y1="{plot.bottom:.1f}" x2="{plot.right:.1f}" '
        f'y2="{plot.bottom:.1f}" stroke="currentColor" stroke-width="1"/>'
        f"</g>"
    )


def _price_labels(plot: _Plot, format_price: Callable[[Decimal], str]) -> str:
    """Lowest and highest price on the y axis, with a faint guide line across the plot."""
    rows: list[tuple[str, Decimal]]
    if plot.lowest == plot.highest:
        rows = [("label-min label-max", plot.lowest)]
    else:
        rows = [("label-max", plot.highest), ("label-min", plot.lowest)]
    out = ['<g class="price-labels">']
    for css_class, price in rows:
        y = plot.y(price)
        out.append(
            f'<line class="guide" x1="{plot.left:.1f}" y1="{y:.1f}" x2="{plot.right:.1f}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-width="1" stroke-dasharray="3 4" aria-hidden="true"/>'
            f'<text class="{css_class}" x="{plot.left - 8:.1f}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="middle" fill="currentColor">{escape(format_price(price))}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _axis_formatter(
    format_axis: Callable[[datetime, AxisScale], str] | None, format_date: Callable[[datetime], str]
) -> Callable[[datetime, AxisScale], str]:
    if format_axis is not None:
        return format_axis

    def fallback(value: datetime, scale: AxisScale) -> str:
        return format_date(value) if scale == "date" else default_axis_label(value, scale)

    return fallback


def _date_labels(plot: _Plot, format_label: Callable[[datetime], str]) -> str:
    """The two ends of the time axis; one label when both would read the same."""
    y = plot.bottom + 20
    start = format_label(plot.start)
    end = format_label(plot.end)
    out = [
        '<g class="date-labels">',
        f'<text class="label-start" x="{plot.left:.1f}" y="{y:.1f}" text-anchor="start" '
        f'fill="currentColor">{escape(start)}</text>',
    ]
    if end != start:
        out.append(
            f'<text class="label-end" x="{plot.right:.1f}" y="{y:.1f}" text-anchor="end" '
            f'fill="currentColor">{escape(end)}</text>'
        )
    out.append("</g>")
    return "".join(out)


def _series(
    plot: _Plot,
    known: Sequence[PricePointLike],
    format_price: Callable[[Decimal], str],
    format_date: Callable[[datetime], str],
) -> str:
    """The step line, a faint area under it, and one marked point per recorded price."""
    count = len(known)
    coords = [(plot.x(at, i, count), plot.y(price)) for i, (at, price) in enumerate(known)]
    path = [f"M{coords[0][0]:.1f},{coords[0][1]:.1f}"]
    for x, y in coords[1:]:
        path.append(f"H{x:.1f}V{y:.1f}")
    last_x = coords[-1][0]
    if count == 1 or plot.end > known[-1][0]:
        last_x = plot.right  # the latest price still holds: carry it to the right edge
        path.append(f"H{last_x:.1f}")
    line = "".join(path)
    area = f"{line}V{plot.bottom:.1f}H{coords[0][0]:.1f}Z"
    out = [
        f'<path class="area" d="{area}" fill="currentColor" fill-opacity="0.08" stroke="none" aria-hidden="true"/>',
        f'<path class="line" d="{line}" fill="none" stroke="currentColor" stroke-width="2" '
        f'stroke-linejoin="round" stroke-linecap="round"/>',
        '<g class="points">',
    ]
    for (x, y), (at, price) in zip(coords, known, strict=True):
        label = escape(f"{format_date(at)}: {format_price(price)}")
        out.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="{POINT_RADIUS}" fill="currentColor">'
            f"<title>{label}</title></circle>"
        )
    out.append("</g>")
    return "".join(out)


# --------------------------------------------------------------------------- daily bars


def daily_bars_svg(
    bars: Sequence[tuple[str, int, str]],
    *,
    chart_id: str = "daily",
    title: str,
    desc: str,
    empty_text: str,
    first_label: str = "",
    last_label: str = "",
    width: int = WIDTH,
    height: int = 180,
) -> Markup:
    """One bar per day (``(tooltip, value, css class)``, oldest first), tallest bar at the top.

    Every bar carries its own ``<title>`` (the caller writes "26 Nov: 3 clicks, 1 order …"), so
    each day's figures are readable by pointer and by screen reader; the axis shows the first
    and last day and the highest value. All zero (or no days): the empty frame with its text.
    """
    svg_id = _SAFE_ID.sub("-", chart_id) or "chart"
    parts = [_open_svg(svg_id, width, height), _title_and_desc(svg_id, title, desc)]
    highest = max((value for _, value, _ in bars), default=0)
    if highest <= 0:
        parts.append(_empty(width, height, empty_text))
        parts.append("</svg>")
        return Markup("".join(parts))
    left, top = 40.0, float(MARGIN_TOP)
    plot_width = max(width - left - MARGIN_RIGHT, 1)
    plot_height = max(height - top - MARGIN_BOTTOM, 1)
    bottom = top + plot_height
    slot = plot_width / len(bars)
    bar_width = max(slot * 0.7, 1.0)
    parts.append(
        f'<g class="axes" aria-hidden="true"><line class="axis" x1="{left:.1f}" y1="{bottom:.1f}" '
        f'x2="{left + plot_width:.1f}" y2="{bottom:.1f}" stroke="currentColor" stroke-width="1"/>'
        f'<text class="label-max" x="{left - 6:.1f}" y="{top + 4:.1f}" text-anchor="end" '
        f'fill="currentColor">{highest}</text>'
        f'<text class="label-start" x="{left:.1f}" y="{height - 8:.1f}" fill="currentColor">{escape(first_label)}</text>'
        f'<text class="label-end" x="{left + plot_width:.1f}" y="{height - 8:.1f}" text-anchor="end" '
        f'fill="currentColor">{escape(last_label)}</text></g>'
    )
    parts.append('<g class="bars">')
    for index, (tooltip, value, css) in enumerate(bars):
        bar_height = value / highest * plot_height
        x = left + index * slot + (slot - bar_width) / 2
        parts.append(
            f'<rect class="bar {escape(css)}" x="{x:.1f}" y="{bottom - bar_height:.1f}" '
            f'width="{bar_width:.1f}" height="{bar_height:.1f}" fill="currentColor">'
            f"<title>{escape(tooltip)}</title></rect>"
        )
    parts.append("</g></svg>")
    return Markup("".join(parts))
