"""Which sandbox URL is which: DHgate's real paths, the control API, and the request counter.

The monitor builds URLs the way dhgate.com spells them, so the sandbox must answer exactly those
paths (store tabs with zero-based page numbers, ``search.do`` and ``/w/`` searches, product pages
with any slug). Each route also has a *kind*, so tests can ask "how many store pages did the
poller fetch?" through :class:`RequestCounter`. The small response helpers shared by the page
handlers and the control API live here too.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

HTML = "text/html; charset=utf-8"
CONTROL_PREFIX = "/__sandbox__"

_TAB = 'any("products", "top-selling", "sale-items")'
URL_MAP = Map([
    Rule("/", endpoint="index"),
    Rule("/store/<int:store_no>", endpoint="store_home"),
    Rule("/store/<int:store_no>.html", endpoint="store_home"),
    Rule(f"/store/<{_TAB}:tab>/<int:store_no>.html", endpoint="store_tab"),
    Rule(f"/store/<{_TAB}:tab>/<int:store_no>/<int:page>.html", endpoint="store_tab"),
    Rule("/product/<slug>/<int:item_code>.html", endpoint="product"),
    Rule("/wholesale/search.do", endpoint="search"),
    Rule("/w/<keyword>.html", endpoint="search_path"),
    Rule("/w/<keyword>/<int:page>.html", endpoint="search_path"),
    Rule(f"{CONTROL_PREFIX}/state", endpoint="ctl_state", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/evolve", endpoint="ctl_evolve", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/fault", endpoint="ctl_fault", methods=["POST", "DELETE"]),
    Rule(f"{CONTROL_PREFIX}/reset", endpoint="ctl_reset", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/latency", endpoint="ctl_latency", methods=["GET", "POST"]),
    Rule(f"{CONTROL_PREFIX}/requests", endpoint="ctl_requests", methods=["GET", "DELETE"]),
    Rule(f"{CONTROL_PREFIX}/change/<action>", endpoint="ctl_change", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/stores/<store_id>", endpoint="ctl_store", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/products/<item_code>", endpoint="ctl_product", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/img/<item_code>.svg", endpoint="image", methods=["GET"]),
    # the affiliate network the sandbox also plays (sandbox/affiliate_api.py)
    Rule(f"{CONTROL_PREFIX}/affiliate", endpoint="aff_state", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/affiliate/report.csv", endpoint="aff_report", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/affiliate/confirm", endpoint="aff_confirm", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/affiliate/push", endpoint="aff_push", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/affiliate/config", endpoint="aff_config", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/affiliate/reset", endpoint="aff_reset", methods=["POST"]),
], strict_slashes=False)

# Request kinds the counter reports ("how many store pages did the poller fetch?").
KIND_BY_ENDPOINT: dict[str, str] = {
    "index": "index",
    "store_home": "store",
    "store_tab": "store",
    "product": "product",
    "search": "search",
    "search_path": "search",
    "image": "image",
}


class RequestCounter:
    """Requests seen, per kind (store, search, product, control, ...) and per exact path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: Counter[str] = Counter()
        self._paths: Counter[str] = Counter()

    def record(self, kind: str, path: str) -> None:
        """Count one request."""
        with self._lock:
            self._kinds[kind] += 1
            self._paths[path] += 1

    def count(self, kind: str | None = None) -> int:
        """Requests of one kind, or of every kind except the control API when ``kind`` is None."""
        with self._lock:
            if kind is None:
                return sum(n for k, n in self._kinds.items() if k != "control")
            return self._kinds[kind]

    def path_count(self, path: str) -> int:
        """Requests for exactly this path (no query string)."""
        with self._lock:
            return self._paths[path]

    def snapshot(self) -> dict[str, int]:
        """All kinds with their counts."""
        with self._lock:
            return dict(self._kinds)

    def paths(self) -> dict[str, int]:
        """Every path requested, with its count (a bench compares requests sent with a budget)."""
        with self._lock:
            return dict(self._paths)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._kinds.clear()
            self._paths.clear()


def base_url(request: Request) -> str:
    """The scheme and host the request came to: pages link absolutely to the host they were
    fetched from, as the real site links to itself."""
    return request.host_url.rstrip("/")


def json_response(payload: Any, status: int = 200) -> Response:
    """A control-API answer (anything not JSON-native, like Decimal, as a string)."""
    return Response(json.dumps(payload, default=str), status=status, content_type="application/json")


def json_error(status: int, message: str) -> Response:
    """A control-API error: ``{"error": message}`` with the status."""
    return json_response({"error": message}, status=status)
