"""Server-rendered SVG line charts for the admin dashboard: one or more series over time buckets.

Pure like ``services.charts``: values and every text a person reads come in, markup goes out.
Each point is a circle with its own ``<title>`` (the caller writes "14:00: p95 120 ms"), so a
pointer or a screen reader gets each figure; a gap (``None``) breaks the line instead of drawing
a zero. Colours come from CSS classes (``series-0`` …), never ``style`` attributes (the CSP).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 800
HEIGHT = 200
LEFT = 56
RIGHT = 12
TOP = 14
BOTTOM = 28
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Series:
    """One line: its name (the legend), values per bucket, and a tooltip per bucket."""

    name: str
    values: Sequence[float | None]
    tooltips: Sequence[str]


def line_chart_svg(
    series: Sequence[Series], *, chart_id: str, title: str, desc: str, empty_text: str,
    top_label: str, first_label: str, last_label: str, top_value: float | None = None,
    width: int = WIDTH, height: int = HEIGHT,
) -> Markup:
    """Lines over equal buckets, 0 at the bottom and ``top_value`` (default: the largest value)
    at the top. No value at all: the frame with ``empty_text`` (never a blank box)."""
    svg_id = _SAFE_ID.sub("-", chart_id) or "chart"
    parts = [
        f'<svg class="chart ops-chart" id="{svg_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{svg_id}-title {svg_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{svg_id}-title">{escape(title)}</title><desc id="{svg_id}-desc">{escape(desc)}</desc>',
    ]
    present = [v for s in series for v in s.values if v is not None]
    if not present:
        parts.append(
            f'<rect class="chart-empty" x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" '
            f'stroke="currentColor"/><text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" '
            f'fill="currentColor">{escape(empty_text)}</text></svg>'
        )
        return Markup("".join(parts))
    highest = top_value if top_value is not None else max(present)
    highest = highest if highest > 0 else 1.0
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    bottom = TOP + plot_h
    parts.append(
        f'<g class="axes" aria-hidden="true"><line x1="{LEFT}" y1="{bottom}" x2="{LEFT + plot_w}" y2="{bottom}" '
        f'stroke="currentColor"/><text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" fill="currentColor">'
        f'{escape(top_label)}</text><text x="{LEFT - 6}" y="{bottom}" text-anchor="end" fill="currentColor">0</text>'
        f'<text x="{LEFT}" y="{height - 8}" fill="currentColor">{escape(first_label)}</text>'
        f'<text x="{LEFT + plot_w}" y="{height - 8}" text-anchor="end" fill="currentColor">{escape(last_label)}</text></g>'
    )
    for number, line in enumerate(series):
        count = max(len(line.values), 1)
        step = plot_w / max(count - 1, 1)
        coords = [
            (LEFT + i * step if count > 1 else LEFT + plot_w / 2, bottom - min(v / highest, 1.0) * plot_h) if v is not None else None
            for i, v in enumerate(line.values)
        ]
        parts.append(f'<g class="series series-{number}" data-series="{escape(line.name)}">')
        for run in _runs(coords):
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="currentColor" stroke-width="2"/>')
        for (point, tooltip) in zip(coords, line.tooltips, strict=False):
            if point is not None:
                parts.append(f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="3" fill="currentColor">'
                             f'<title>{escape(tooltip)}</title></circle>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(coords: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive present points: a missing bucket breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in coords:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]
