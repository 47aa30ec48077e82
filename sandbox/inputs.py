"""Checking what tests, the demo and the control API send before it touches the catalog.

Scripted changes arrive as JSON or query-string values (strings, numbers, booleans in many
spellings). Everything is validated here into exact types with a message a person can act on
(a ``CatalogError``, which the control API answers with 400), so the catalog itself only ever
holds consistent values: floats are refused for money, a sale's list price lies above the
selling price, a rating is 0..5.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .model import CatalogError, SandboxProduct, money

SETTABLE_FIELDS = frozenset({
    "item_code", "title", "price_min", "price_max", "original_min", "original_max", "unit",
    "min_order", "sold", "rating", "rating_count", "in_stock",
})


def parse_money(value: Any, name: str) -> Decimal:
    """A positive amount in USD from a Decimal, int or numeric string; floats are refused
    because they cannot carry cents exactly."""
    if isinstance(value, (bool, float)):
        raise CatalogError(f"{name} must be a decimal string or Decimal, not {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CatalogError(f"{name} must be an amount like 12.50, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise CatalogError(f"{name} must be a positive amount, got {value!r}")
    return money(amount)


def as_int(value: Any, name: str, minimum: int = 0) -> int:
    """A whole number of at least ``minimum`` from an int or a numeric string; booleans are
    refused because ``True`` would quietly count as 1."""
    if isinstance(value, bool):
        raise CatalogError(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CatalogError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise CatalogError(f"{name} must be at least {minimum}, got {number}")
    return number


def as_bool(value: Any, name: str) -> bool:
    """A boolean from JSON or from the spellings query strings use (1/0, yes/no, on/off)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise CatalogError(f"{name} must be true or false, got {value!r}")


def same_spread(original_min: Decimal, product: SandboxProduct) -> Decimal:
    """A list-price maximum with the same spread as the selling range (sales cut evenly)."""
    return money(original_min * product.price_max / product.price_min)


def apply_fields(product: SandboxProduct, given: dict[str, Any]) -> SandboxProduct:
    """Validated explicit fields over a generated product (prices kept consistent)."""
    if "item_code" in given:
        product.item_code = str(given["item_code"]).strip()
    if "title" in given:
        title = str(given["title"]).strip()
        if not title:
            raise CatalogError("title must not be empty")
        product.title = title
    if "price_min" in given or "price_max" in given:
        low = parse_money(given.get("price_min", given.get("price_max")), "price_min")
        high = parse_money(given["price_max"], "price_max") if "price_max" in given else low
        if high < low:
            raise CatalogError(f"price_max {high} is below price_min {low}")
        product.price_min, product.price_max = low, high
        product.original_min = product.original_max = None
    if given.get("original_min") is not None:
        low = parse_money(given["original_min"], "original_min")
        high = (parse_money(given["original_max"], "original_max") if given.get("original_max") is not None
                else same_spread(low, product))
        if low <= product.price_min or high < product.price_max:
            raise CatalogError("the list price must lie above the selling price range")
        product.original_min, product.original_max = low, high
    elif "original_min" in given:
        product.original_min = product.original_max = None
    if "unit" in given:
        product.unit = str(given["unit"]).strip() or "Piece"
    if "min_order" in given:
        product.min_order = as_int(given["min_order"], "min_order", minimum=1)
    if "sold" in given:
        product.sold = as_int(given["sold"], "sold")
    if "rating_count" in given:
        product.rating_count = as_int(given["rating_count"], "rating_count")
    if "rating" in given:
        product.rating = parse_rating(given["rating"])
        if product.rating is not None and "rating_count" not in given:
            product.rating_count = max(product.rating_count, 1)
    if product.rating_count and product.rating is None:
        product.rating = Decimal("5.0")
    if not product.rating_count:
        product.rating = None  # nobody reviewed it: the card shows no stars
    if "in_stock" in given:
        product.in_stock = as_bool(given["in_stock"], "in_stock")
    return product


def parse_rating(value: Any) -> Decimal | None:
    """A star rating 0..5 with one decimal, as cards show it; None means nobody reviewed it."""
    if value is None:
        return None
    try:
        rating = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise CatalogError(f"rating must be a number from 0 to 5, got {value!r}") from None
    if not Decimal(0) <= rating <= Decimal(5):
        raise CatalogError(f"rating must be from 0 to 5, got {value!r}")
    return rating
