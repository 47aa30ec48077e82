"""Pieces every sandbox page shares: escaping, exact JSON, how prices and counts are printed,
and the URLs pages link to.

The store, search and product renderers must print a price, a sold count or a link the same way
(a parser that reads one page type is tested against the others' links), so these live once,
here. Links are absolute on the host the request came to, as the real site links to itself;
money is rendered from Decimal without ever passing through float.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from decimal import Decimal
from typing import Any

from .model import SandboxProduct
from .wordlists import plural_unit

TAB_LABELS: dict[str, tuple[str, str, str]] = {
    # tab: (page title words, "found in ..." words, anchor DHgate appends to pager links)
    "products": ("Products", "Products", "#st-navigation-products"),
    "top-selling": ("Top Selling", "Topselling", "#st-navigatin-topselling"),
    "sale-items": ("Sale Items", "Sale Items", "#st-navigation-saleitems"),
}
CARD_TITLE_CHARS = 60
_DECIMAL_MARK = re.compile(r'"@@dec@@(-?\d+(?:\.\d+)?)@@"')


def esc(text: object) -> str:
    """HTML-escape for text and attribute values."""
    return html.escape(str(text), quote=True)


def to_json(value: Any) -> str:
    """Compact JSON where Decimal becomes a JSON number with its exact digits (no float)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return f"@@dec@@{obj}@@"
        raise TypeError(f"cannot serialise {type(obj).__name__}")

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    return _DECIMAL_MARK.sub(r"\1", text)


def script_safe(json_text: str) -> str:
    """Escape JSON for a ``<script>`` body the way Next.js does (no ``</script>`` breakout)."""
    return (json_text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def price_text(low: Decimal, high: Decimal) -> str:
    """``US $13.96 - 14.63`` or ``US $9.90``, as cards and search records print prices."""
    if low == high:
        return f"US ${low:.2f}"
    return f"US ${low:.2f} - {high:.2f}"


def sold_text(sold: int) -> str:
    """``5K+`` from 5000 and up, the plain number below."""
    return f"{sold // 1000}K+" if sold >= 1000 else str(sold)


def min_order_text(product: SandboxProduct) -> str:
    """``1 Piece`` / ``2 Pieces``."""
    unit = product.unit if product.min_order == 1 else plural_unit(product.unit)
    return f"{product.min_order} {unit}"


def short_title(title: str) -> str:
    """Cards cut long titles to about 60 characters with an ellipsis."""
    return title if len(title) <= CARD_TITLE_CHARS else title[:CARD_TITLE_CHARS].rstrip() + "..."


def product_url(base: str, product: SandboxProduct) -> str:
    """Canonical product URL on this host."""
    return f"{base}/product/{product.slug}/{product.item_code}.html"


def image_url(base: str, item_code: str) -> str:
    """Absolute on this host. DHgate's CDN links are protocol-relative and always https; the
    sandbox speaks plain http, so a protocol-relative link would point browsers at a port that
    does not speak TLS."""
    return f"{base}/__sandbox__/img/{item_code}.svg"


def store_tab_url(base: str, tab: str, store_id: str, page: int) -> str:
    """Zero-based pages: page 0 is ``/store/{tab}/{n}.html``, page 1 ``/store/{tab}/{n}/1.html``."""
    if page <= 0:
        return f"{base}/store/{tab}/{store_id}.html"
    return f"{base}/store/{tab}/{store_id}/{page}.html"


def request_id(*parts: object) -> str:
    """A stable tracking id, like the hex ids DHgate puts in links, so cached pages match."""
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()
