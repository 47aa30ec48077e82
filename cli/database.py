"""``flask db …``: Flask-Migrate's migration commands, with Flask-Migrate bound when they run.

Importing Flask-Migrate imports Alembic, about a quarter of a second that no request, job or
other command needs; so the app binds it here, when a ``flask db`` command runs, instead of in
``extensions.init_extensions``. Code that runs migrations without the command line (the
migration tests) calls ``init_migrations(app)`` first; ``migrations/env.py`` reads what it binds.
The group is Flask-Migrate's own, with the same subcommands and options; only its callback binds
Flask-Migrate to the app before doing what it always did.
"""
from __future__ import annotations

from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_migrate import Migrate
from flask_migrate.cli import db as migrate_group

from extensions import db

migrate = Migrate()


def init_migrations(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` (once): the migrations folder, and batch mode so that
    SQLite can alter tables."""
    if "migrate" not in app.extensions:
        migrate.init_app(app, db, directory=str(app.config["MIGRATIONS_DIR"]), render_as_batch=True)


@with_appcontext
def _bind_then_run(**options: Any) -> Any:
    init_migrations(current_app._get_current_object())  # type: ignore[attr-defined]
    return migrate_group.callback(**options) if migrate_group.callback is not None else None


db_group = click.Group(
    "db",
    commands=dict(migrate_group.commands),
    params=list(migrate_group.params),
    callback=_bind_then_run,
    help=migrate_group.help,
)
