"""CLI commands: polling DHgate (``flask monitors poll``, ``flask dhgate parse|sandbox``).

``poll_command`` joins the ``monitors`` group (``cli.monitoring`` names it lazily); the ``dhgate``
group is in the table of ``cli/__init__.py``. Bad input ends with one clear line and exit status 1.
"""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from cli.embedded_redis import needs_redis
from extensions import db
from models import Monitor, PollRun
from sandbox import run_sandbox
from services.dhgate import parsers
from services.dhgate.encoding import PageTooLarge, read_saved_page
from services.dhgate.types import DHgatePageError, PageUnparsable
from services.polling import engine as polling


@click.command("poll")
@click.argument("monitor_id", required=False, type=int)
@click.option("--all", "poll_all", is_flag=True, help="Poll every active monitor, one after another.")
@with_appcontext
@needs_redis
def poll_command(monitor_id: int | None, poll_all: bool) -> None:
    """Poll monitor MONITOR_ID (or --all active ones) now, in this process, and print what was seen."""
    if (monitor_id is None) == (not poll_all):
        raise click.ClickException("Give one monitor id, or --all (not both).")
    if monitor_id is not None:
        if db.session.get(Monitor, monitor_id) is None:
            raise click.ClickException(f"No monitor with id {monitor_id}.")
        ids = [monitor_id]
    else:
        ids = list(db.session.scalars(select(Monitor.id).where(Monitor.active.is_(True)).order_by(Monitor.id)))
        if not ids:
            click.echo("No active monitors.")
            return
    summaries: list[str] = []
    failed = 0
    with click.progressbar(ids, label="Polling", item_show_func=lambda i: f"monitor {i}" if i else None) as bar:
        for current in bar:
            try:
                run = polling.poll_monitor(current)
            except polling.MonitorNotFound:
                summaries.append(f"#{current}: deleted meanwhile, skipped")
                continue
            except Exception as exc:  # recorded on the poll run; keep polling the others
                failed += 1
                summaries.append(f"#{current}: error: {type(exc).__name__}: {exc}")
                continue
            failed += run.outcome != "ok"
            summaries.append(_summary(current, run))
    for line in summaries:
        click.echo(line)
    if failed:
        click.echo(f"{failed} of {len(ids)} polls did not succeed (see the lines above).")


def _summary(monitor_id: int, run: PollRun) -> str:
    monitor = db.session.get(Monitor, monitor_id)
    name = monitor.name if monitor is not None else "?"
    line = (f"#{monitor_id} {name}: {run.outcome} · {run.pages} page(s) · {run.products_seen} seen, "
            f"{run.products_new} new, {run.products_changed} changed · {run.duration_ms or 0} ms")
    if run.error:
        line += f" · {' '.join(run.error.split())}"
    return line


dhgate = AppGroup("dhgate", help="Look at DHgate pages, or run the local sandbox marketplace.")


@dhgate.command("parse")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(["store", "search", "product"]), default=None,
              help="What kind of page FILE is (guessed from its content when omitted).")
@click.option("--status", "status_code", type=int, default=200, show_default=True,
              help="The HTTP status the page came with.")
def parse_command(file: Path, kind: str | None, status_code: int) -> None:
    """Print what the parser reads from a saved DHgate page FILE (and the encoding it was read in).

    The file is decoded as a browser would (byte-order mark, then its <meta> charset, then
    UTF-8) and read only up to the size the fetcher accepts for a page.
    """
    limit = int(current_app.config["DHGATE_MAX_PAGE_BYTES"])
    try:
        saved = read_saved_page(file, limit)
    except PageTooLarge as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror or exc}.") from None
    html = saved.text
    kind = kind or parsers.sniff_kind(html)
    if kind is None:
        try:
            parsers.detect_blocked(html, status_code)
        except DHgatePageError as exc:
            raise click.ClickException(f"{exc.outcome.value}: {exc}") from None
        raise click.ClickException("Cannot tell what kind of page this is; pass --kind store, search or product. "
                                   f"It was read as {saved.describe()}.")
    try:
        page = parsers.parse_page(kind, html, status_code)
    except PageUnparsable as exc:  # the encoding is the first suspect when nothing is readable
        raise click.ClickException(f"{exc.outcome.value}: {exc}. It was read as {saved.describe()}.") from None
    except DHgatePageError as exc:
        raise click.ClickException(f"{exc.outcome.value}: {exc}") from None
    click.echo(parsers.describe(page))
    click.echo(f"encoding: {saved.describe()}")


@dhgate.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same marketplace.")
@click.option("--stores", default=12, show_default=True, type=click.IntRange(1, 5000), help="How many stores.")
@click.option("--evolve-every", "evolve_every", default=None, type=click.FloatRange(min=0.1),
              help="Let the marketplace change every SECONDS (new listings, prices, stock).")
@click.option("--latency-ms", "latency_ms", default=0.0, show_default=True, type=click.FloatRange(0, 600_000),
              help="Every page waits this many milliseconds, like a page from the real site.")
@click.option("--jitter-ms", "jitter_ms", default=0.0, show_default=True, type=click.FloatRange(0, 600_000),
              help="Vary that wait by up to this many milliseconds either way.")
def sandbox_command(host: str, port: int, seed: int, stores: int, evolve_every: float | None,
                    latency_ms: float, jitter_ms: float) -> None:
    """Run the local DHgate imitation in the foreground (point DHGATE_BASE_URL at it)."""
    run_sandbox(host, port, seed, stores, evolve_every, latency_ms=latency_ms, jitter_ms=jitter_ms)

