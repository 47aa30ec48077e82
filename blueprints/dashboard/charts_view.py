"""The admin charts as SVG markup, in the reader's language: the words around the figures.

``services.ops_charts`` measures, ``services.ops_svg`` / ``services.charts`` draw; this module
writes every title, description, tooltip and "collecting data since …" text.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from markupsafe import Markup

from services import formatting
from services.charts import daily_bars_svg
from services.labels import outcome_label
from services.ops_charts import MIN_POINTS, Charts
from services.ops_svg import Series, line_chart_svg


@dataclass(frozen=True)
class ChartView:
    key: str
    heading: str
    svg: Markup | None  # None: too little data, ``collecting`` says since when
    collecting: str | None = None
    legend: tuple[str, ...] = ()  # the lines' names, in series order (their colours: series-N)


def _label(charts: Charts, moment: datetime) -> str:
    scale = "date" if charts.window.key == "30d" else ("time" if charts.window.key == "24h" else "day_time")
    return formatting.chart_axis_label(moment, scale)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _collecting(since: datetime | None) -> str:
    if since is None:
        return _("Collecting data: nothing has been recorded yet.")
    return _("Collecting data since %(when)s: the chart appears once there are at least two points.",
             when=formatting.date_time(since))


def _line(charts: Charts, key: str, heading: str, series: list[Series], since: datetime | None,
          top: Callable[[float], str], desc: str, top_value: float | None = None) -> ChartView:
    points = max((sum(v is not None for v in s.values) for s in series), default=0)
    if points < MIN_POINTS:
        return ChartView(key, heading, None, _collecting(since))
    highest = top_value if top_value is not None else max(v for s in series for v in s.values if v is not None)
    svg = line_chart_svg(
        series, chart_id=f"chart-{key}", title=heading, desc=desc, empty_text=_("No data in this window"),
        top_label=top(highest), first_label=_label(charts, charts.edges[0]), last_label=_label(charts, charts.edges[-2]),
        top_value=top_value,
    )
    return ChartView(key, heading, svg, legend=tuple(s.name for s in series) if len(series) > 1 else ())


def _bars(charts: Charts, key: str, heading: str, values: list[int], tooltip: Callable[[datetime, int], str],
          since: datetime | None, desc: str) -> ChartView:
    if sum(1 for v in values if v) < 1 and since is None:
        return ChartView(key, heading, None, _collecting(since))
    bars = [(tooltip(charts.edges[i], v), v, "") for i, v in enumerate(values)]
    svg = daily_bars_svg(bars, chart_id=f"chart-{key}", title=heading, desc=desc,
                         empty_text=_("Nothing in this window"), first_label=_label(charts, charts.edges[0]),
                         last_label=_label(charts, charts.edges[-2]))
    return ChartView(key, heading, svg)


def chart_views(charts: Charts) -> list[ChartView]:
    """Every chart of the window, in page order (each bucket's label formatted once)."""
    traffic = charts.traffic
    when = [_label(charts, start) for start in charts.edges[:-1]]
    views = [
        _line(charts, "latency", _("Response time p50 / p95"), [
            Series("p50", [b.p50_ms for b in traffic], [_("%(when)s: p50 %(ms)s", when=w, ms=_ms(b.p50_ms)) for w, b in zip(when, traffic, strict=True)]),
            Series("p95", [b.p95_ms for b in traffic], [_("%(when)s: p95 %(ms)s", when=w, ms=_ms(b.p95_ms)) for w, b in zip(when, traffic, strict=True)]),
        ], charts.traffic_since, _ms, _("Median and 95th percentile response time per period, static files left out.")),
        _line(charts, "errors", _("Error rate (5xx)"), [
            Series("errors", [None if b.error_rate is None else b.error_rate * 100 for b in traffic],
                   [_("%(when)s: %(rate)s %% server errors (%(errors)s of %(requests)s)", when=w,
                      rate=f"{(b.error_rate or 0) * 100:.2f}", errors=b.errors, requests=b.requests)
                    for w, b in zip(when, traffic, strict=True)]),
        ], charts.traffic_since, lambda v: f"{v:.1f} %", _("Share of requests answered with a server error per period.")),
    ]
    if charts.traffic_points < MIN_POINTS:
        views.append(ChartView("requests", _("Requests"), None, _collecting(charts.traffic_since)))
    else:
        views.append(_bars(charts, "requests", _("Requests"), [b.requests for b in traffic],
                           lambda at, v: _("%(when)s: %(n)s requests", when=when[charts.edges.index(at)], n=v),
                           charts.traffic_since, _("Requests per period, static files left out.")))
    outcome_series = []
    for outcome, values in charts.polls.items():
        label = outcome_label(outcome)
        outcome_series.append(Series(label, [float(v) for v in values], [
            _("%(when)s: %(outcome)s, %(n)s polls", when=when[i], n=v, outcome=label) for i, v in enumerate(values)]))
    views.append(_line(charts, "polls", _("Polls by outcome"), outcome_series, charts.polls_since,
                       lambda v: f"{v:.0f}", _("Finished polls per period, one line per outcome: %(outcomes)s.",
                                              outcomes=", ".join(outcome_label(o) for o in charts.polls))))
    views.append(_bars(charts, "events", _("Events"), charts.events,
                       lambda at, v: _("%(when)s: %(n)s events", when=when[charts.edges.index(at)], n=v),
                       charts.polls_since, _("Product events (new listings, price changes, stock) per period.")))
    uptime_series = [
        Series(name, values, [_("%(when)s: %(name)s up %(pct)s", when=when[i], name=name,
                                pct="—" if v is None else f"{v:.2f} %") for i, v in enumerate(values)])
        for name, values in charts.uptime.items()
    ]
    views.append(_line(charts, "uptime", _("Uptime per check"), uptime_series, charts.health_since,
                       lambda v: f"{v:.0f} %", _("Share of each health check's runs that passed, per period: %(names)s.",
                                                 names=", ".join(charts.uptime)), top_value=100.0))
    return views
