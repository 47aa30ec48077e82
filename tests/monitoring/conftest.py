"""Helpers of the monitoring tests: products, price history and events written straight to the
database (the poll engine's tables), and logged-in browsers for alice, bob and the admin."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models import Monitor, MonitorProduct, PollRun, PricePoint, Product, ProductEvent
from tests.conftest import PASSWORD, AuthActions, csrf_token_from


def add_product(
    monitor: Monitor,
    item_code: str,
    title: str,
    price: str | Decimal | None,
    *,
    first_price: str | Decimal | None = None,
    first_seen: datetime | None = None,
    sold: int | None = None,
    status: str = "listed",
    currency: str | None = "USD",
    url: str | None = None,
    **fields: Any,
) -> Product:
    """A product the monitor has seen (and its ``monitor_products`` link)."""
    now = datetime.now(UTC)
    seen = first_seen or now
    product = db.session.query(Product).filter_by(item_code=item_code).one_or_none()
    if product is None:
        product = Product(
            item_code=item_code,
            title=title,
            url=url or f"/product/thing/{item_code}.html",
            price_min=Decimal(price) if price is not None else None,
            price_max=Decimal(price) if price is not None else None,
            first_price_min=Decimal(first_price if first_price is not None else price) if price is not None else None,
            currency=currency,
            sold=sold,
            status=status,
            first_seen_at=seen,
            last_seen_at=now,
            **fields,
        )
        db.session.add(product)
        db.session.flush()
    db.session.add(MonitorProduct(monitor_id=monitor.id, product_id=product.id, first_seen_at=seen, last_seen_at=now))
    db.session.commit()
    return product


def add_price_points(product: Product, prices: list[tuple[datetime, str]]) -> list[PricePoint]:
    rows = [PricePoint(product_id=product.id, price_min=Decimal(p), price_max=Decimal(p), currency="USD", recorded_at=at) for at, p in prices]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def add_event(monitor: Monitor, product: Product, kind: str, *, old: str | None = None, new: str | None = None,
              at: datetime | None = None) -> ProductEvent:
    event = ProductEvent(
        monitor_id=monitor.id, product_id=product.id, kind=kind,
        dedupe_key=f"{monitor.id}:{product.id}:{kind}:{(at or datetime.now(UTC)).isoformat()}",
        old_value=Decimal(old) if old else None, new_value=Decimal(new) if new else None,
        created_at=at or datetime.now(UTC),
    )
    db.session.add(event)
    db.session.commit()
    return event


def add_poll_run(monitor: Monitor, outcome: str = "ok", **fields: Any) -> PollRun:
    started = fields.pop("started_at", datetime.now(UTC) - timedelta(minutes=5))
    run = PollRun(monitor_id=monitor.id, started_at=started, finished_at=started + timedelta(seconds=2),
                  outcome=outcome, duration_ms=2000, **fields)
    db.session.add(run)
    db.session.commit()
    return run


def browser_for(app: Flask, login: str) -> FlaskClient:
    """A separate logged-in browser (own cookie jar) through the real login form."""
    client = app.test_client()
    response = AuthActions(client).login(login, PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def post_form(client: FlaskClient, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/monitors/",
              **kwargs: Any):  # noqa: ANN201
    """POST like the browser: with the CSRF token of a page this client can see."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token_from(client.get(token_from).get_data(as_text=True)))
    return client.post(path, data=payload, **kwargs)


def monitor_count() -> int:
    db.session.expire_all()
    return db.session.query(Monitor).count()

