"""``shows_stored``: the per-card path's shortcut for a card whose product row is already as
the card shows it. It must never say "nothing to write" when ``product_values`` would write
something (the full comparison is what it saves), field by field."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.dhgate.types import ParsedProduct
from services.polling.fastpath import differs, product_row
from services.polling.plan import FIELD_LIMITS, product_values, shows_stored

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _card() -> ParsedProduct:
    return ParsedProduct(
        item_code="100200300", title="Wireless earbuds", url="/product/100200300.html",
        image_url="https://img.example/1.jpg", store_id="21168471", price_min=Decimal("12.50"),
        price_max=Decimal("14.00"), currency="USD", original_price_min=Decimal("20.00"), unit="Piece",
        min_order=2, sold=150, rating=Decimal("4.80"), rating_count=31, in_stock=True,
    )


def _row_as_stored(card: ParsedProduct, **changes: Any) -> Any:
    """The product row a poll of ``card`` leaves behind, with ``changes``."""
    values = {"id": 7, "item_code": card.item_code, **product_values(None, card, NOW), **changes}  # type: ignore[arg-type]
    return product_row(values)


def test_a_card_as_stored_is_quiet() -> None:
    card = _card()
    row = _row_as_stored(card)
    assert shows_stored(row, card)
    assert not differs(product_values(row, card, NOW), row)


def test_fields_the_card_does_not_show_never_make_it_busy() -> None:
    card = _card()
    row = _row_as_stored(card)
    hidden = replace(card, title="", image_url=None, store_id=None, price_min=None, price_max=None, currency=None,
                     original_price_min=None, unit=None, min_order=None, sold=None, rating=None,
                     rating_count=None, in_stock=None)
    assert shows_stored(row, hidden)
    assert not differs(product_values(row, hidden, NOW), row)


@pytest.mark.parametrize(("field", "shown"), [
    ("title", "Wireless earbuds v2"), ("image_url", "https://img.example/2.jpg"), ("store_id", "99"),
    ("price_min", Decimal("12.49")), ("price_max", Decimal("14.01")), ("original_price_min", Decimal("19.99")),
    ("currency", "EUR"), ("unit", "Pair"), ("min_order", 3), ("sold", 151), ("rating", Decimal("4.70")),
    ("rating_count", 32), ("in_stock", False), ("delisted", True),
])
def test_any_field_the_card_shows_differently_is_compared(field: str, shown: object) -> None:
    card = _card()
    row = _row_as_stored(card)
    moved = replace(card, **{field: shown})
    assert differs(product_values(row, moved, NOW), row)
    assert not shows_stored(row, moved)


def test_amounts_compare_by_value_and_texts_as_cut_when_stored() -> None:
    card = _card()
    row = _row_as_stored(card)
    same = replace(card, price_min=Decimal("12.5"), rating=Decimal("4.8"))  # equal values written differently
    assert shows_stored(row, same)
    long_title = "x" * (FIELD_LIMITS["title"] + 40)
    stored_long = _row_as_stored(replace(card, title=long_title))
    assert stored_long.title == long_title[:FIELD_LIMITS["title"]]
    assert shows_stored(stored_long, replace(card, title=long_title))


def test_values_that_round_to_the_stored_ones_take_the_full_comparison() -> None:
    """Not a shortcut case, but never a wrong answer: the full comparison decides."""
    card = _card()
    row = _row_as_stored(card)
    finer = replace(card, price_min=Decimal("12.501"))
    assert not shows_stored(row, finer)
    assert not differs(product_values(row, finer, NOW), row)


def test_a_stored_rating_above_five_is_not_taken_as_shown() -> None:
    """A card's rating is stored capped at 5: a row holding more is rewritten, not skipped."""
    card = replace(_card(), rating=Decimal("6.00"))
    row = _row_as_stored(card, rating=Decimal("6.00"))
    assert differs(product_values(row, card, NOW), row)
    assert not shows_stored(row, card)
