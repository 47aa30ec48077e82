"""``flask`` CLI commands. Each module defines one or more click groups; ``register_commands``
adds them all to the app (so ``flask users …``, ``flask jobs …`` and friends exist)."""
from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    from cli import monitoring, ops, polling, users

    for module in (users, ops, monitoring, polling):
        for command in module.COMMANDS:
            app.cli.add_command(command)
