"""``flask demo seed-volume``: bulk volume data whose figures add up, refused the second time."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from extensions import db
from models import (
    HealthCheck,
    HealthHour,
    Monitor,
    MonitorProduct,
    Notification,
    PollRun,
    PricePoint,
    Product,
    RequestMetric,
    TrafficHour,
)
from services.kpi import measure_kpis
from tests.conftest import PASSWORD

SMALL = ["--days", "2", "--endpoints", "3", "--monitors", "4", "--products", "40", "--price-points", "90",
         "--notifications", "25", "--password", PASSWORD]


def _count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_seed_volume_writes_the_asked_sizes_and_a_matching_rollup(app: Flask, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["demo", "seed-volume", *SMALL])
    assert result.exit_code == 0, result.output
    minutes = _count(RequestMetric)
    assert 2 * 1440 * 3 <= minutes <= (2 * 1440 + 60) * 3  # two days and the current hour so far, 3 endpoints
    assert (_count(Monitor), _count(Product), _count(MonitorProduct), _count(PricePoint), _count(Notification)) == (4, 40, 40, 90, 25)
    assert _count(PollRun) == 4 * 2 * 4
    assert _count(HealthCheck) == 2 * 1440 * 5 and _count(HealthHour) > 0
    requests = db.session.scalar(select(func.sum(RequestMetric.count)))
    assert db.session.scalar(select(func.sum(TrafficHour.requests))) == requests
    errors = db.session.scalar(select(func.sum(RequestMetric.count)).where(RequestMetric.status_class == "5xx"))
    assert db.session.scalar(select(func.sum(TrafficHour.errors))) == errors
    assert measure_kpis().active_monitors == 4
    assert "seeded" in result.output and "4 monitors" in result.output


def test_seed_volume_twice_is_refused_in_one_line(app: Flask, runner) -> None:  # noqa: ANN001
    assert runner.invoke(args=["demo", "seed-volume", *SMALL]).exit_code == 0
    again = runner.invoke(args=["demo", "seed-volume", *SMALL])
    assert again.exit_code == 1
    assert again.output.strip().splitlines()[-1] == (
        "Error: volume data is already there (the member 'volume' exists); use a fresh database")
    assert _count(Monitor) == 4


def test_seed_volume_refuses_a_weak_password_without_writing_members(app: Flask, runner) -> None:  # noqa: ANN001
    result = runner.invoke(args=["demo", "seed-volume", "--days", "1", "--endpoints", "1", "--monitors", "1",
                                 "--products", "1", "--price-points", "0", "--notifications", "0", "--password", "x"])
    assert result.exit_code == 1 and "the volume member could not be created" in result.output
    assert _count(Monitor) == 0 and _count(RequestMetric) == 0
