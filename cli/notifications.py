"""``flask notifications …``: send what is pending now, the digests that are due, or a test
through an account's channels.

All go through ``services.notifications.sending``, the same claims and bookkeeping as the
worker, so running them beside a worker never sends a row twice.
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

from services import accounts
from services.notifications.channels import channel_name, list_channels
from services.notifications.digests import send_digests
from services.notifications.sending import DeliveryReport, deliver_due, deliveries_of, send_tests

notifications_cli = AppGroup("notifications", help="Send alerts through members' channels.")


def _summary(report: DeliveryReport) -> str:
    parts = [f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items())]
    return ", ".join(parts) if parts else "nothing was due"


@notifications_cli.command("deliver")
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Most deliveries tried in this run.")
def deliver_command(limit: int) -> None:
    """Send every pending delivery that is due now (retries included)."""
    click.echo(_summary(deliver_due(limit)))


@notifications_cli.command("test")
@click.argument("login")
def test_command(login: str) -> None:
    """Send a test message through every channel of the account LOGIN (e-mail or username)."""
    user = accounts.find_user(login)
    if user is None:
        raise click.ClickException(f"No user with e-mail or username {login!r}.")
    channels = list_channels(user.id)
    if not channels:
        raise click.ClickException(f"{user.email} has no alert channels; add one on /notifications/channels.")
    notification, report = send_tests(user, channels)
    for delivery in deliveries_of(notification.id):
        channel = next((c for c in channels if c.id == delivery.channel_id), None)
        name = channel_name(channel) if channel is not None else delivery.target
        click.echo(f"{name}: {delivery.status}" + (f" ({delivery.last_error})" if delivery.last_error else ""))
    failed = report.get("failed") + report.get("retry") + report.get("skipped")
    if failed:
        raise click.ClickException(f"{failed} of {len(channels)} channel(s) did not accept the test")


@notifications_cli.command("digest")
@click.option("--user", "login", default=None, help="Only this account (e-mail or username), sent now.")
def digest_command(login: str | None) -> None:
    """Send the digests that are due now; with --user, that member's held alerts at once."""
    user_id = None
    if login is not None:
        user = accounts.find_user(login)
        if user is None:
            raise click.ClickException(f"No user with e-mail or username {login!r}.")
        user_id = user.id
    run = send_digests(user_id=user_id, force=user_id is not None)
    if not run.digests:
        click.echo("no digest was due")
        return
    click.echo(f"{len(run.digests)} digest(s) written; sending: {_summary(run.sending)}")
