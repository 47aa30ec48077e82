"""Affiliate commands.

    flask affiliate rollup [--from DATE] [--to DATE]   recompute the daily figures of a range
    flask affiliate flush                              move counted clicks from Redis into the database
    flask affiliate import FILE [--map column=field]   import the network's conversion report (CSV)

The rollup recomputes days from the raw clicks and orders, so running it twice over the same
range, or over a range the scheduled job also covers, changes nothing. Bad input ends with one
clear line and exit code 1, never a traceback.
"""
from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

import click
from flask.cli import AppGroup

from cli.embedded_redis import needs_redis
from services.affiliate_clicks import flush_clicks
from services.affiliate_conversions import FIELDS, ConversionImportError, import_csv, parse_mapping
from services.affiliate_rollup import rollup

MAX_RANGE_DAYS = 20 * 366  # far past any real history; a typo in a year is caught
SHOWN_ERRORS = 5  # the first few line errors; the rest are counted

affiliate_cli = AppGroup("affiliate", help="Affiliate clicks, conversions and the daily performance rollup.")


@affiliate_cli.command("rollup")
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="First day (YYYY-MM-DD, UTC); default: the --to day.")
@click.option("--to", "end", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day, included (YYYY-MM-DD, UTC); default: today.")
def rollup_command(start: datetime | None, end: datetime | None) -> None:
    """Recompute affiliate_performance for every day of a range (idempotent)."""
    last = end.date() if end else datetime.now(UTC).date()
    first = start.date() if start else last
    if last < first:
        raise click.BadParameter(f"--to {last} is before --from {first}", param_hint="--to")
    days = (last - first).days + 1
    if days > MAX_RANGE_DAYS:
        raise click.BadParameter(f"the range spans {days} days; at most {MAX_RANGE_DAYS}", param_hint="--from")
    with click.progressbar(length=days, label=f"rollup {first}..{last}", file=sys.stderr) as bar:
        report = rollup(first, last, progress=bar.update)
    click.echo(f"rolled up {report.days} days: {report.rows} rows")


@affiliate_cli.command("flush")
@needs_redis
def flush_command() -> None:
    """Move the clicks counted in Redis into affiliate_clicks now."""
    report = flush_clicks()
    click.echo(f"flushed {report.clicks} clicks ({report.duplicates} already there)")


@affiliate_cli.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
              help=f"Which field a column of the file holds; fields: {', '.join(FIELDS)}. Repeatable.")
def import_command(file: TextIO, mappings: tuple[str, ...]) -> None:
    """Import a conversion report (CSV): all rows or none, idempotent by order id."""
    try:
        mapping = parse_mapping(mappings)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--map") from None
    try:
        text = file.read()
    except UnicodeDecodeError:
        click.echo(f"import failed: {file.name} is not UTF-8 text; nothing was imported", err=True)
        sys.exit(1)
    try:
        report = import_csv(text, mapping)
    except ConversionImportError as exc:
        count = len(exc.errors)
        click.echo(f"import failed: {count} {'error' if count == 1 else 'errors'}, nothing was imported", err=True)
        for error in exc.errors[:SHOWN_ERRORS]:
            click.echo(f"  {error}", err=True)
        if count > SHOWN_ERRORS:
            click.echo(f"  … and {count - SHOWN_ERRORS} more", err=True)
        sys.exit(1)
    click.echo(f"imported: {report.created} new, {report.updated} updated, {report.unchanged} unchanged "
               f"({report.unmatched} without a known click); {len(report.days)} days rolled up")
