"""Insert-if-absent on the test database (SQLite by default, PostgreSQL in CI)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from extensions import db
from models import Product
from services.polling.sql import insert_if_absent


def test_insert_if_absent_skips_existing_rows_and_accepts_mixed_columns(app) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    rows = [
        {"item_code": "111", "title": "One", "url": "/product/x/111.html", "first_seen_at": now, "last_seen_at": now},
        {"item_code": "222", "title": "Two", "url": "/product/x/222.html", "image_url": "https://img/2.jpg",
         "first_seen_at": now, "last_seen_at": now},
    ]
    assert insert_if_absent(db.session, Product, rows, ["item_code"]) == 2
    again = [*rows, {"item_code": "333", "title": "Three", "url": "/product/x/333.html",
                     "first_seen_at": now, "last_seen_at": now}]
    assert insert_if_absent(db.session, Product, again, ["item_code"]) == 1
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Product)) == 3
    assert db.session.scalar(select(Product.image_url).where(Product.item_code == "222")) == "https://img/2.jpg"
    assert db.session.scalar(select(Product.status).where(Product.item_code == "111")) == "listed"  # column default
