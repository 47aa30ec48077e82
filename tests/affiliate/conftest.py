"""Helpers of the affiliate tests: a member with a monitor and a product, tracked links to it,
and clicks and orders written straight to the tables the rollup reads."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask

from extensions import db
from models import AffiliateClick, AffiliateConversion, Monitor, Product, User
from services.affiliate_links import make_token
from tests.factories import make_monitor, make_user
from tests.monitoring.conftest import add_product

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.fixture
def member(app: Flask) -> User:
    return make_user("mira")


@pytest.fixture
def shop(member: User) -> Monitor:
    return make_monitor(member)


@pytest.fixture
def product(shop: Monitor) -> Product:
    return add_product(shop, "77", "Glow lamp", "9.99", url="/product/glow-lamp/77.html")


@pytest.fixture
def link(member: User, shop: Monitor, product: Product) -> str:
    return f"/go/{make_token(member.id, product.id, shop.id, 'page')}"


def add_click(user: User | None, at: datetime, *, ref: str, product: Product | None = None) -> AffiliateClick:
    click = AffiliateClick(user_id=user.id if user else None, product_id=product.id if product else None,
                           clicked_at=at, click_ref=ref, source="page")
    db.session.add(click)
    db.session.flush()
    return click


def add_order(click: AffiliateClick | None, at: datetime, value: str, commission: str, *, order_id: str,
              status: str = "confirmed") -> AffiliateConversion:
    order = AffiliateConversion(order_id=order_id, click_id=click.id if click else None,
                                order_value=Decimal(value), commission=Decimal(commission),
                                status=status, ordered_at=at, updated_at=datetime.now(UTC))
    db.session.add(order)
    db.session.flush()
    return order
