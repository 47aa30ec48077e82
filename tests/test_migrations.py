"""Migrations build exactly the schema the models describe, and come down again cleanly.

Runs on a database of its own (a separate SQLite file, or a separate PostgreSQL database next to
the test one) so it never fights the suite's ``create_all`` schema.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from cli.database import init_migrations
from tests.conftest import Stores, make_app


def _separate_database(url: str, tmp_path) -> str:  # noqa: ANN001
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    name = f"{parsed.database}_migrations"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def migration_app(stores: Stores, tmp_path) -> Iterator[Flask]:  # noqa: ANN001
    url = _separate_database(stores.database_url, tmp_path)
    app = make_app(stores, SQLALCHEMY_DATABASE_URI=url)
    init_migrations(app)  # what ``flask db`` does before running a migration command
    with app.app_context():
        yield app
        from extensions import db

        db.engine.dispose()


def _table_names(app: Flask) -> set[str]:
    from extensions import db

    return set(inspect(db.engine).get_table_names())


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(migration_app: Flask) -> None:
    from extensions import db

    upgrade()
    expected = set(db.metadata.tables)
    assert expected <= _table_names(migration_app)

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"

    downgrade(revision="base")
    assert _table_names(migration_app) & expected == set()

    upgrade()  # and up again: a downgrade must leave nothing behind that breaks the next upgrade
    assert expected <= _table_names(migration_app)
