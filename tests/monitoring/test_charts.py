"""The price-history chart: pure functions from points to SVG markup."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from markupsafe import Markup

from services import charts

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def parse(markup: str) -> ET.Element:
    """Well-formed XML or the test fails here."""
    return ET.fromstring(str(markup))


def circles(root: ET.Element) -> list[ET.Element]:
    return root.findall(".//svg:circle[@class='point']", NS)


def labels(root: ET.Element, css_class: str) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text") if css_class in (t.get("class") or "").split()]


def points(*prices: str, step: timedelta = timedelta(days=1)) -> list[tuple[datetime, Decimal]]:
    return [(T0 + i * step, Decimal(p)) for i, p in enumerate(prices)]


def test_empty_history_says_so_and_draws_no_points() -> None:
    markup = charts.price_history_svg([], title="History", empty_text="Nothing yet")
    root = parse(markup)
    assert isinstance(markup, Markup)
    assert circles(root) == []
    assert labels(root, "empty") == ["Nothing yet"]
    assert root.find("svg:title", NS).text == "History"
    assert root.find("svg:desc", NS).text == "No price has been recorded yet."
    assert root.find(".//svg:path[@class='line']", NS) is None


def test_single_point_is_a_flat_line_across_the_chart() -> None:
    root = parse(charts.price_history_svg(points("12.50")))
    assert len(circles(root)) == 1
    # one price: one label that is both the lowest and the highest
    assert labels(root, "label-min") == ["12.50"] and labels(root, "label-max") == ["12.50"]
    line = root.find(".//svg:path[@class='line']", NS).get("d")
    assert "nan" not in line.lower() and "inf" not in line.lower()
    assert line.endswith(f"H{charts.WIDTH - charts.MARGIN_RIGHT:.1f}")  # carried to the right edge


def test_many_points_one_circle_each_with_min_and_max_labels() -> None:
    prices = ("20.00", "18.50", "25.75", "19.99", "9.95", "12.00")
    root = parse(charts.price_history_svg(points(*prices)))
    dots = circles(root)
    assert len(dots) == len(prices)
    assert labels(root, "label-max") == ["25.75"]
    assert labels(root, "label-min") == ["9.95"]
    ys = [float(c.get("cy")) for c in dots]
    assert ys[2] == min(ys)  # the highest price is drawn highest (smallest y)
    assert ys[4] == max(ys)
    xs = [float(c.get("cx")) for c in dots]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # every point has a tooltip with its price
    assert [c.find("svg:title", NS).text for c in dots][2].endswith("25.75")


def test_equal_prices_do_not_divide_by_zero() -> None:
    root = parse(charts.price_history_svg(points("7.00", "7.00", "7.00")))
    ys = {c.get("cy") for c in circles(root)}
    assert len(ys) == 1  # a flat line through the middle
    assert labels(root, "label-min") == ["7.00"] == labels(root, "label-max")


def test_points_at_the_same_instant_are_spread_by_position() -> None:
    root = parse(charts.price_history_svg(points("1.00", "2.00", "3.00", step=timedelta(0))))
    xs = [float(c.get("cx")) for c in circles(root)]
    assert len(set(xs)) == 3


def test_unknown_prices_are_gaps_and_points_are_sorted_by_time() -> None:
    data = [(T0 + timedelta(days=2), Decimal("3.00")), (T0, Decimal("1.00")), (T0 + timedelta(days=1), None)]
    root = parse(charts.price_history_svg(data))
    dots = circles(root)
    assert len(dots) == 2
    assert float(dots[0].get("cx")) < float(dots[1].get("cx"))


def test_text_is_escaped_and_no_inline_styles() -> None:
    markup = str(
        charts.price_history_svg(
            points("1.00", "2.00"),
            chart_id='x" onload="alert(1)',
            title="<script>alert(1)</script>",
            desc="a & b",
            format_price=lambda v: f"<b>{v}</b>",
        )
    )
    root = parse(markup)
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert 'onload="' not in markup
    assert root.find("svg:desc", NS).text == "a & b"
    assert "style=" not in markup
    assert "currentColor" in markup


def test_accessible_name_points_at_title_and_description() -> None:
    root = parse(charts.price_history_svg(points("1.00", "2.00"), chart_id="p-7"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "p-7-title p-7-desc"
    assert root.find("svg:title", NS).get("id") == "p-7-title"
    assert root.find("svg:desc", NS).get("id") == "p-7-desc"


def test_end_at_extends_the_last_price_and_labels_the_end_date() -> None:
    end = T0 + timedelta(days=30)
    root = parse(charts.price_history_svg(points("5.00", "6.00"), end_at=end))
    assert labels(root, "label-end") == [end.strftime("%Y-%m-%d")]
    assert labels(root, "label-start") == [T0.strftime("%Y-%m-%d")]
    dots = circles(root)
    assert float(dots[-1].get("cx")) < charts.WIDTH - charts.MARGIN_RIGHT


def test_summary_and_description() -> None:
    summary = charts.summarise(points("4.00", "2.00", "5.00", "3.00"))
    assert summary is not None
    assert (summary.count, summary.first, summary.last, summary.lowest, summary.highest) == (
        4, Decimal("4.00"), Decimal("3.00"), Decimal("2.00"), Decimal("5.00"),
    )
    assert charts.summarise([]) is None
    text = charts.describe(summary)
    assert "lowest 2.00" in text and "highest 5.00" in text and "4 prices" in text
    assert charts.describe(charts.summarise(points("9.99"))).startswith("One price recorded: 9.99")


def test_axis_scale_follows_the_span() -> None:
    assert charts.axis_scale(T0, T0) == "time"
    assert charts.axis_scale(T0, T0 + timedelta(hours=23, minutes=59)) == "time"
    assert charts.axis_scale(T0, T0 + timedelta(days=1)) == "day_time"
    assert charts.axis_scale(T0, T0 + charts.DAY_TIME_UNDER - timedelta(seconds=1)) == "day_time"
    assert charts.axis_scale(T0, T0 + charts.DAY_TIME_UNDER) == "date"


def test_changes_within_one_day_are_labelled_with_times_not_the_same_date_twice() -> None:
    history = points("5.00", "4.00", "6.00", step=timedelta(hours=3))  # 00:00, 03:00, 06:00
    root = parse(charts.price_history_svg(history))
    assert labels(root, "label-start") == ["00:00"]
    assert labels(root, "label-end") == ["06:00"]
    # each point's tooltip says the day and the time, so points of one day can be told apart
    tooltips = [c.find("svg:title", NS).text for c in circles(root)]
    assert tooltips == ["2026-01-01 00:00: 5.00", "2026-01-01 03:00: 4.00", "2026-01-01 06:00: 6.00"]


def test_a_few_days_are_labelled_with_day_and_time() -> None:
    history = points("5.00", "4.00", step=timedelta(hours=30))
    root = parse(charts.price_history_svg(history))
    assert labels(root, "label-start") == ["2026-01-01 00:00"]
    assert labels(root, "label-end") == ["2026-01-02 06:00"]


def test_axis_text_comes_from_the_callers_formatter_with_the_scale() -> None:
    """The web layer formats in the viewer's zone and language; the chart only picks the scale."""
    seen: list[str] = []

    def axis(value: datetime, scale: str) -> str:
        seen.append(scale)
        return f"{scale}@{value.hour}"

    root = parse(charts.price_history_svg(points("1.00", "2.00", step=timedelta(hours=2)), format_axis=axis))
    assert labels(root, "label-start") == ["time@0"] and labels(root, "label-end") == ["time@2"]
    week = parse(charts.price_history_svg(points("1.00", "2.00", step=timedelta(days=7)), format_axis=axis))
    assert labels(week, "label-start") == ["date@0"]
    assert {"time", "day_time", "date"} <= set(seen)  # day_time: the tooltips of the short chart


def test_ends_that_read_the_same_get_one_label() -> None:
    history = points("1.00", "2.00", step=timedelta(seconds=20))  # both ends read "00:00"
    root = parse(charts.price_history_svg(history))
    assert labels(root, "label-start") == ["00:00"]
    assert labels(root, "label-end") == []
