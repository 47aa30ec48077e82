"""Numbers from URLs and query strings, bounded before they reach the database.

Python integers have no limit, database integers do: an id or page number past a column's range
makes SQLite raise ``OverflowError`` and PostgreSQL "integer out of range", which used to surface
as a 500. Central guards keep every such number in range:

- ``IdConverter`` replaces the app's ``int`` URL converter and stops at PostgreSQL's INTEGER
  maximum, the type of most id columns; ``BigIdConverter`` (``<bigint:...>``) stops at BIGINT's,
  for the tables whose ids are BIGINT (products, notifications: see ``models.base.BigIntPK``).
  A larger number never matches, so the visitor gets the ordinary 404, as for any other id that
  names nothing. A rule for a BIGINT table that keeps ``int`` only loses ids past two billion;
  an INTEGER table behind ``bigint`` would crash on PostgreSQL, which the URL-map test catches.
- ``int_arg`` / ``page_arg`` read integer query parameters: page numbers are clamped into a
  sensible range (a page past the end shows the usual "past the end" page), ids out of range or
  not numbers are a 400 with a message saying what was wrong.

Routes never call ``request.args.get(..., type=int)`` themselves (a test checks), so a new route
cannot forget the bounds.
"""
from __future__ import annotations

from flask import Flask, abort, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter, Map

# PostgreSQL's INTEGER (the default id column type) and BIGINT; SQLite's INTEGER holds either.
# A number outside a column's range cannot name a row in it.
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# Far past any real list (a million pages of 100 rows), yet small enough that the row offset it
# becomes stays well inside the database's integer range whatever the page size.
MAX_PAGE = 1_000_000


class IdConverter(IntegerConverter):
    """``<int:...>`` that stops at an INTEGER column's range unless the rule gives its own bounds.

    Werkzeug's converter accepts any number of digits; values past ``max`` fail to match, so the
    router answers 404 before a view (or a query) ever sees them.
    """

    lowest, highest = INTEGER_MIN, INTEGER_MAX

    def __init__(
        self,
        map: Map,  # noqa: A002 - Werkzeug's parameter names
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(
            map,
            fixed_digits=fixed_digits,
            min=self.lowest if min is None and signed else min,
            max=self.highest if max is None else max,
            signed=signed,
        )


class BigIdConverter(IdConverter):
    """``<bigint:...>``: an id of a table whose ids are BIGINT."""

    lowest, highest = BIGINT_MIN, BIGINT_MAX


def init_app(app: Flask) -> None:
    """Register the bounded converters; must run before any blueprint adds its rules (a rule
    looks its converter up when it is added)."""
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["bigint"] = BigIdConverter


# Any number with more digits than this is out of every range above; it is never converted in
# full (Python refuses, or takes its time, on strings thousands of digits long).
_MAX_DIGITS = 30


def _parse(raw: str) -> int | None:
    """``raw`` as an integer, or None. Only plain decimal digits with an optional sign: no
    ``1e5``, no ``0x10``, no underscores; a longer run of digits than any bound stands for
    "enormous" (so it clamps or is refused like any other out-of-range number)."""
    text = raw.strip()
    sign = -1 if text[:1] == "-" else 1
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    digits = digits.lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        return sign * 10**_MAX_DIGITS
    return sign * int(digits)


def int_arg(
    name: str,
    default: int | None = None,
    *,
    minimum: int = INTEGER_MIN,
    maximum: int = INTEGER_MAX,
    clamp: bool = False,
) -> int | None:
    """The query parameter ``name`` as an integer within ``minimum``..``maximum``.

    Missing or empty gives ``default``. With ``clamp`` (for things like page numbers, where a
    nearby value is as good as the one asked for) anything unreadable gives ``default`` and an
    out-of-range value the nearest bound. Without it (for ids and exact filters) an unreadable or
    out-of-range value is a 400 whose message names the parameter and the range.
    """
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return default
    value = _parse(raw)
    if clamp:
        if value is None:
            return default
        return min(max(value, minimum), maximum)
    if value is None or not minimum <= value <= maximum:
        abort(
            400,
            description=_(
                "The “%(name)s” parameter must be a whole number from %(minimum)s to %(maximum)s.",
                name=name,
                minimum=minimum,
                maximum=maximum,
            ),
        )
    return value


def page_arg(name: str = "page") -> int:
    """A 1-based page number: anything unreadable is page 1, anything huge the last page we
    would ever show (which renders as "past the end of the list")."""
    return int_arg(name, 1, minimum=1, maximum=MAX_PAGE, clamp=True) or 1
