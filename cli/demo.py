"""``flask demo``: data for trying the product out and measuring it at volume."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from services.accounts import AccountError
from services.volume_seed import VolumeAlreadySeeded, VolumeSizes, seed_volume


@click.group("demo")
def demo_cli() -> None:
    """Demo and volume data."""


@demo_cli.command("seed-volume")
@click.option("--days", type=click.IntRange(1, 90), default=30, show_default=True, help="days of minute-grain request metrics")
@click.option("--endpoints", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--monitors", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--products", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@click.option("--price-points", type=click.IntRange(0, 10_000_000), default=100_000, show_default=True)
@click.option("--notifications", type=click.IntRange(0, 10_000_000), default=50_000, show_default=True)
@click.option("--password", envvar="VOLUME_PASSWORD", required=True,
              help="password of the member 'volume' who owns the monitors (or VOLUME_PASSWORD)")
@with_appcontext
def seed_volume_command(days: int, endpoints: int, monitors: int, products: int, price_points: int,
                        notifications: int, password: str) -> None:
    """Fill the database with 30 days of a busy platform (bulk inserts, with a progress bar)."""
    sizes = VolumeSizes(days=days, endpoints=endpoints, monitors=monitors, products=products,
                        price_points=price_points, notifications=notifications)
    bars: dict[str, tuple[object, int]] = {}

    def progress(step: str, done: int, total: int) -> None:
        bar, shown = bars.get(step, (None, 0))
        if bar is None:
            bar = click.progressbar(length=total, label=step.ljust(16), file=sys.stderr)
            bar.__enter__()
        bar.update(done - shown)  # type: ignore[attr-defined]
        bars[step] = (bar, done)
        if done >= total:
            bar.__exit__(None, None, None)  # type: ignore[attr-defined]

    try:
        report = seed_volume(sizes, password, progress)
    except VolumeAlreadySeeded:
        raise click.ClickException("volume data is already there (the member 'volume' exists); use a fresh database") from None
    except AccountError as exc:
        raise click.ClickException(f"the volume member could not be created: {exc}") from None
    click.echo(
        f"seeded {report.request_metrics} request-metric rows ({report.traffic_hours} traffic hours), "
        f"{report.monitors} monitors, {report.products} products, {report.price_points} price points, "
        f"{report.poll_runs} polls, {report.notifications} notifications, {report.health_checks} health-check results"
    )
