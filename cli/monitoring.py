"""CLI commands: monitoring (``flask monitors add|list|poll``).

Same rules as the web form (allowed hosts, duplicates, the owner's tier minimum, the interval
values ``rules.parse_interval`` reads), because both go through ``services.monitors``. Bad input
ends with one line on stderr and exit status 1.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from flask.cli import AppGroup

from cli.lazy import LazyCommand
from models import Monitor
from services.dhgate.types import InvalidDHgateInput
from services.formatting import interval as format_interval
from services.monitors import commands, queries, rules

monitors = AppGroup("monitors", help="Watch DHgate stores, searches and products.")
# ``flask monitors poll`` lives with the polling engine; loaded only when it runs, so that
# ``add`` and ``list`` do not import the fetcher and parsers.
monitors.add_command(LazyCommand(
    "poll", "cli.polling:poll_command",
    "Poll monitor MONITOR_ID (or --all active ones) now, in this process, and print what was seen.",
))

F = TypeVar("F", bound=Callable[..., Any])


@monitors.command("add")
@click.argument("url")
@click.option("--user", "login", required=True, help="The owner's e-mail address or username.")
@click.option("--name", default=None, help="Display name (default: derived from the link).")
@click.option(
    "--interval",
    default=None,
    help="How often to check: seconds or 15m, 6h, 1d (default: as often as the owner's plan allows).",
)
def add_command(url: str, login: str, name: str | None, interval: str | None) -> None:
    """Start watching URL (a DHgate store, search or product link, or search keywords)."""
    owner = commands.find_owner(login)
    if owner is None:
        raise click.ClickException(f"No user with the e-mail address or username {login!r}.")
    try:
        seconds = rules.parse_interval(interval) if interval else None
        target = commands.understand(url)
    except rules.MonitorError as exc:
        raise click.ClickException(_one_line(exc.message)) from None
    except InvalidDHgateInput as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    if commands.is_typed_search(url, target):
        # No link: say so before it becomes a search, as the web form asks first.
        click.echo(f"“{url.strip()}” is not a link: treating it as a search for “{target.dhgate_id}”.")
    try:
        monitor = commands.create_monitor(owner, target, rules.MonitorSettings(name=name, poll_interval=seconds))
    except rules.MonitorError as exc:
        raise click.ClickException(_one_line(exc.message)) from None
    click.echo(
        f"Monitor {monitor.id} created for {owner.username}: {monitor.kind} {monitor.dhgate_id} "
        f"({monitor.name}), checked every {format_interval(monitor.poll_interval)}; "
        f"the first check starts within a minute."
    )


@monitors.command("list")
@click.option("--user", "login", default=None, help="Only this user's monitors (e-mail or username).")
def list_command(login: str | None) -> None:
    """Show monitors as a table: id, owner, kind, DHgate id, name, interval, status, next check."""
    owner_id: int | None = None
    if login:
        owner = commands.find_owner(login)
        if owner is None:
            raise click.ClickException(f"No user with the e-mail address or username {login!r}.")
        owner_id = owner.id
    rows = queries.operator_monitor_rows(owner_id)
    if not rows:
        click.echo("No monitors.")
        return
    header = ("ID", "OWNER", "KIND", "DHGATE ID", "NAME", "EVERY", "PRODUCTS", "STATUS", "NEXT CHECK")
    table = [header] + [_row(row.monitor, row.owner_name or "", row.product_count) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _row(monitor: Monitor, owner: str, products: int) -> tuple[str, ...]:
    return (
        str(monitor.id),
        owner,
        monitor.kind,
        _clip(monitor.dhgate_id, 24),
        _clip(monitor.name, 40),
        format_interval(monitor.poll_interval),
        str(products),
        "paused" if not monitor.active else (monitor.last_status or "waiting"),
        _next_check(monitor),
    )


def _next_check(monitor: Monitor) -> str:
    if not monitor.active:
        return "-"
    if monitor.next_poll_at is None or monitor.next_poll_at <= datetime.now(UTC):
        return "due"
    return monitor.next_poll_at.strftime("%Y-%m-%d %H:%M UTC")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _one_line(message: str) -> str:
    return " ".join(message.split())

