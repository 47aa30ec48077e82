"""Commands registered by name and imported on first use, and an app whose set-up waits while
the ``flask`` command only looks its commands up.

Why: every ``flask`` invocation, ``flask --help`` included, builds the app and asks ``app.cli``
for its commands. Importing the command modules imports what the commands use (models, services,
RQ, APScheduler, httpx …) and building the whole app imports SQLAlchemy, every blueprint and
their services: well over a second before anything ran, where Python and Flask start in a fifth
of that. Two deliberate, documented pieces of lazy loading fix it:

* ``LazyCommand`` stands in for a command or group. It carries the name and the help that
  ``flask --help`` prints, and imports ``module:attribute`` only when the command runs, completes
  or shows its own help (click's "lazily loading subcommands" pattern, keeping the help so that
  listing imports nothing). The command modules import what they use at their top; this is not
  a way around an import cycle.
* ``defer_setup``: Flask's ``flask`` command builds the app in its top-level click context only
  to list or look up the app's commands (``FlaskGroup.list_commands`` / ``get_command``). That
  app needs nothing but its commands, so the factory registers them and parks the rest of its
  set-up on the app (``looking_up_commands`` tells it when); the ``LazyCommand`` that then runs
  finishes it before it loads its command. Flask's own commands (``run``, ``shell``, ``routes``)
  and plugins load the app from their own context, so they get a complete app, as do gunicorn,
  the worker, scripts and tests, which build it outside the ``flask`` command.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo

DEFERRED_SETUP_KEY = "dhm_deferred_setup"


def looking_up_commands() -> bool:
    """True while Flask's ``flask`` command builds the app only to list or look up commands.

    Those lookups run in the top-level context of the ``flask`` group itself; a command that
    runs (built-in, plugin or ours) runs in a context of its own below it.
    """
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.parent is None and isinstance(ctx.command, FlaskGroup)


def defer_setup(app: Flask, setup: Callable[[Flask], None]) -> None:
    """Park ``setup`` on ``app``; ``finish_setup`` runs it once, before a command needs it."""
    app.extensions[DEFERRED_SETUP_KEY] = setup


def setup_deferred(app: Flask) -> bool:
    """True while ``app`` still waits for the set-up ``defer_setup`` parked on it."""
    return DEFERRED_SETUP_KEY in app.extensions


def finish_setup(app: Flask) -> None:
    """Run the set-up parked on ``app`` (once; nothing when there is none)."""
    setup = app.extensions.pop(DEFERRED_SETUP_KEY, None)
    if setup is not None:
        setup(app)


def _command_app(parent: click.Context | None) -> Flask | None:
    """The app the command line is working with: the one its ``ScriptInfo`` loads (cached by
    Flask), else the current app, else none (a command run by plain click, without Flask)."""
    info = parent.find_object(ScriptInfo) if parent is not None else None
    if info is not None:
        return info.load_app()
    if current_app:
        return current_app._get_current_object()  # type: ignore[attr-defined]
    return None


class LazyCommand(click.Command):
    """A stand-in for the command or group at ``target`` (``"package.module:attribute"``).

    ``help`` is what ``flask --help`` shows for it; a test checks it against the real command's
    so the two cannot drift apart. Everything else comes from the real command once loaded:
    ``make_context`` hands over to it, so the context click runs, completes or prints help for
    belongs to the real command and its subcommands.
    """

    def __init__(self, name: str, target: str, help: str) -> None:  # noqa: A002 - click's name
        super().__init__(name, help=help)
        self.target = target
        self._loaded: click.Command | None = None

    def load(self) -> click.Command:
        """Import the real command (once) and check it is the one this entry names."""
        if self._loaded is None:
            module_name, _, attribute = self.target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command) or command.name != self.name:
                raise RuntimeError(f"{self.target} is not the {self.name!r} command")
            self._loaded = command
        return self._loaded

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        app = _command_app(parent)
        if app is not None:
            finish_setup(app)
        return self.load().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.load().invoke(ctx)

    def get_usage(self, ctx: click.Context) -> str:
        return self.load().get_usage(ctx)

    def get_help(self, ctx: click.Context) -> str:
        return self.load().get_help(ctx)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self.load().get_params(ctx)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        return self.load().to_info_dict(ctx)
