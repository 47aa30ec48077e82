"""Money and count parsing for DHgate pages.

DHgate shows prices as text ("US $13.96 - 14.63", "€ 3,50") on server-rendered pages and as
JSON numbers (``0.14``) in page data. Both must end up as ``Decimal`` so that a price never
drifts through float rounding between two polls and a "price changed" event is real.
Text goes through price-parser, which knows thousands and decimal separators in many locales;
this module only adds ranges, ISO currency codes and DHgate's "5K+" style counts.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple

from price_parser import Price

# Longest symbols first: "US $" must win over "$". DHgate writes the dollar currencies with a
# country prefix ("US $", "AU $"), so a bare "$" is taken as US dollars.
_CURRENCY_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("US $", "USD"),
    ("US$", "USD"),
    ("USD", "USD"),
    ("AU $", "AUD"),
    ("AU$", "AUD"),
    ("AUD", "AUD"),
    ("CA $", "CAD"),
    ("CA$", "CAD"),
    ("C$", "CAD"),
    ("CAD", "CAD"),
    ("NZ $", "NZD"),
    ("NZ$", "NZD"),
    ("NZD", "NZD"),
    ("MX $", "MXN"),
    ("MX$", "MXN"),
    ("MXN", "MXN"),
    ("R$", "BRL"),
    ("BRL", "BRL"),
    ("EUR", "EUR"),
    ("€", "EUR"),
    ("GBP", "GBP"),
    ("£", "GBP"),
    ("CHF", "CHF"),
    ("RUB", "RUB"),
    ("руб", "RUB"),  # noqa: RUF001 - the Cyrillic abbreviation Russian prices use
    ("₽", "RUB"),
    ("PLN", "PLN"),
    ("zł", "PLN"),
    ("SEK", "SEK"),
    ("NOK", "NOK"),
    ("DKK", "DKK"),
    ("TRY", "TRY"),
    ("₺", "TRY"),
    ("INR", "INR"),
    ("₹", "INR"),
    ("KRW", "KRW"),
    ("₩", "KRW"),
    ("JPY", "JPY"),
    ("¥", "JPY"),
    ("円", "JPY"),
    ("ILS", "ILS"),
    ("₪", "ILS"),
    ("$", "USD"),
)

# A range separator between two amounts: "13.96 - 14.63", "13.96–14.63", "13.96 ~ 14.63".
# The hyphen needs a digit before it so that "US $-" style noise does not split.
_RANGE_SPLIT = re.compile(r"(?<=\d)\s*[-–—~]\s*(?=\D*\d)")
# The shape nearly every DHgate price has: a currency marker, digits, at most two decimals after a
# point ("US $13.96", "14.63"). Read directly, it is the very number price-parser finds, at a
# fraction of the cost; anything else (separators, commas, other scripts) goes to price-parser.
_PLAIN_AMOUNT = re.compile(r"[^\d.,+\-]*?(\d{1,9}(?:\.\d{1,2})?)[^\d.,+\-]*")
_COUNT = re.compile(r"(\d[\d,.]*)\s*([kKmMwW万]?)")
_COUNT_FACTORS: dict[str, int] = {"": 1, "k": 1_000, "m": 1_000_000, "w": 10_000, "万": 10_000}


class PriceRange(NamedTuple):
    """A price as a page shows it: one amount (low == high) or a low-high range."""

    low: Decimal | None
    high: Decimal | None
    currency: str | None


EMPTY_RANGE = PriceRange(None, None, None)


def currency_code(text: str | None) -> str | None:
    """Map the currency marker found in a price text to an ISO 4217 code, if recognised."""
    if not text:
        return None
    for symbol, code in _CURRENCY_SYMBOLS:
        if symbol in text:
            return code
    return None


@lru_cache(maxsize=4096)
def parse_price_range(text: str | None) -> PriceRange:
    """Read "US $13.96 - 14.63" or "US $14.90" into Decimals plus an ISO currency.

    Cached because a store page repeats the same few price strings on every poll; the result
    is an immutable tuple of immutable Decimals, so sharing it is safe.
    """
    if not text or not text.strip():
        return EMPTY_RANGE
    parts = _RANGE_SPLIT.split(text.strip(), maxsplit=1)
    low = _amount(parts[0])
    high = _amount(parts[1]) if len(parts) > 1 else low
    if low is None:
        return EMPTY_RANGE
    if high is None or high < low:
        high = low
    return PriceRange(low, high, currency_code(text))


def parse_money(text: str | None) -> Decimal | None:
    """One amount from text ("US $0.11" -> Decimal("0.11")); None when there is none."""
    return parse_price_range(text).low


def _amount(text: str) -> Decimal | None:
    """The non-negative amount price-parser finds in ``text`` (None if none)."""
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain is not None:
        return Decimal(plain.group(1))
    amount = Price.fromstring(text).amount
    if amount is None or not amount.is_finite() or amount < 0:
        return None
    return amount


def decimal_from_json(value: object) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None for missing, bool, negative or junk.

    Floats go through ``repr`` so that 0.14 becomes Decimal("0.14"), not the binary expansion.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return parse_money(value)
    else:
        return None
    if not result.is_finite() or result < 0:
        return None
    return result


def parse_count(value: object) -> int | None:
    """DHgate's counts as int: "5K+" -> 5000, "1.2k" -> 1200, "1,234" -> 1234, 14 -> 14.

    "+" style counts are lower bounds; that is what the product stores as ``sold``.
    """
    if isinstance(value, str):
        return _count_from_text(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value) if value >= 0 else None


@lru_cache(maxsize=4096)
def _count_from_text(text: str) -> int | None:
    """The first count in a text, with its K/M/万 multiplier applied (cached like prices)."""
    match = _COUNT.search(text)
    if match is None:
        return None
    number, suffix = match.groups()
    factor = _COUNT_FACTORS[suffix.lower()]
    try:
        amount = Decimal(_count_digits(number, scaled=factor > 1))
    except InvalidOperation:
        return None
    return int(amount * factor)


def _count_digits(number: str, *, scaled: bool) -> str:
    """Digits of a count as a Decimal string.

    Plain counts are whole numbers, so both separators group thousands ("1,234", "1.234").
    Scaled counts keep a decimal part: "1.2K", or "1,2K" where the comma is the decimal mark.
    """
    if not scaled:
        return number.replace(",", "").replace(".", "")
    if "," in number and "." not in number and len(number.rsplit(",", 1)[1]) != 3:
        return number.replace(",", ".")
    return number.replace(",", "")
