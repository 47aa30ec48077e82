"""``flask`` CLI commands: one table of every top-level command, registered lazily.

Each entry names the command, where it lives and the help ``flask --help`` prints; its module is
imported only when the command runs or shows its own help (see ``cli.lazy`` for why). A test
checks every entry against the command it loads, and that no command in ``cli/`` is left out.
"""
from __future__ import annotations

from flask import Flask

from cli.lazy import LazyCommand

COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("users", "cli.users:users_cli", "Create, list and manage user accounts."),
    LazyCommand("monitors", "cli.monitoring:monitors", "Watch DHgate stores, searches and products."),
    LazyCommand("dhgate", "cli.polling:dhgate", "Look at DHgate pages, or run the local sandbox marketplace."),
    LazyCommand("jobs", "cli.ops:jobs_cli", "List and run background jobs."),
    LazyCommand("scheduler", "cli.ops:scheduler_cli", "Run or inspect the scheduler of periodic jobs."),
    LazyCommand("metrics", "cli.ops:metrics_cli", "Request metrics."),
    LazyCommand("affiliate", "cli.affiliate:affiliate_cli", "Affiliate clicks, conversions and the daily performance rollup."),
    LazyCommand(
        "health", "cli.ops:health_command",
        "Run every health check, print a table and the state (healthy, degraded, down); exit 1 when down.",
    ),
    LazyCommand(
        "worker", "cli.ops:worker_command",
        "Run a background worker in this process (same as ``python worker.py``).",
    ),
    LazyCommand("notifications", "cli.notifications:notifications_cli", "Send alerts through members' channels."),
    LazyCommand("demo", "cli.demo:demo_cli", "Demo and volume data."),
    LazyCommand("db", "cli.database:db_group", "Perform database migrations."),
)


def register_commands(app: Flask) -> None:
    """Add every command of the table to ``app.cli`` (imports none of them)."""
    for command in COMMANDS:
        app.cli.add_command(command)
