"""The sandbox's JSON control API under ``/__sandbox__/``: change the marketplace while it runs.

Browser tests, the demo and people poking at a running sandbox cannot call ``Catalog`` methods
in the server's process, so every scripted change (evolve, faults, reset, price and stock
changes) is also reachable over HTTP. Parameters come as a query string, a JSON object body, or
both; bad ones raise ``CatalogError``/``FaultError``, which the dispatcher answers with 400.
"""
from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from .catalog import Catalog
from .faults import FaultBook, FaultError
from .model import STORE_TABS, CatalogError, UnknownProduct, UnknownStore
from .render_common import store_tab_url
from .routing import RequestCounter, base_url, json_response
from .serving import Latency


class ControlApi:
    """Handlers for the ``ctl_*`` endpoints of the URL map, one method per endpoint."""

    def __init__(self, catalog: Catalog, faults: FaultBook, counter: RequestCounter, latency: Latency) -> None:
        self.catalog = catalog
        self.faults = faults
        self.counter = counter
        self.latency = latency

    def ctl_state(self, request: Request) -> Response:
        """The whole sandbox state as JSON (see ``state``)."""
        return json_response(self.state(base_url(request)))

    def state(self, base: str) -> dict[str, Any]:
        """Everything a test or a person wants to know about the running sandbox."""
        summary = self.catalog.summary()
        faults = self.faults.snapshot()
        for store in summary["stores"]:
            sid = store["store_id"]
            store["fault"] = faults["stores"].get(sid)
            store["urls"] = {tab: store_tab_url(base, tab, sid, 0) for tab in STORE_TABS}
        summary["faults"] = faults
        summary["requests"] = self.counter.snapshot()
        summary["latency"] = self.latency.to_dict()
        return summary

    def ctl_latency(self, request: Request) -> Response:
        """GET: the latency every page waits; POST ``latency_ms`` (and ``jitter_ms``) sets it."""
        if request.method == "POST":
            params = request_params(request)
            if "latency_ms" not in params:
                raise CatalogError("latency_ms is required (milliseconds; jitter_ms optional)")
            self.latency.set(params["latency_ms"], params.get("jitter_ms", 0))
        return json_response(self.latency.to_dict())

    def ctl_requests(self, request: Request) -> Response:
        """GET: requests served per kind and per exact path; DELETE counts from zero again."""
        if request.method == "DELETE":
            self.counter.reset()
        return json_response({"kinds": self.counter.snapshot(), "paths": self.counter.paths(),
                              "total": self.counter.count()})

    def ctl_evolve(self, request: Request) -> Response:
        """Let the marketplace evolve ``steps`` steps; answers every change."""
        params = request_params(request)
        changes = self.catalog.evolve(params.get("steps", 1))
        return json_response({"version": self.catalog.version, "step": self.catalog.step,
                      "counts": dict(Counter(c.kind for c in changes)),
                      "changes": [c.to_dict() for c in changes]})

    def ctl_fault(self, request: Request) -> Response:
        """Set a fault (``mode``, optional ``store``, ``next`` and options); DELETE clears all."""
        if request.method == "DELETE":
            self.faults.clear_all()
            return json_response({"faults": self.faults.snapshot()})
        params = request_params(request)
        store = params.pop("store", None)
        mode = params.pop("mode", None)
        if not mode:
            raise FaultError("mode is required (ok, slow, rate_limited, server_error, blocked, "
                             "challenge, garbled, truncated)")
        options = params.pop("options", None) or {}
        if not isinstance(options, dict):
            raise FaultError("options must be an object")
        count = params.pop("next", None)
        options = {**params, **options}  # flat query-string options work too
        if store is not None and self.catalog.store(str(store)) is None:
            raise UnknownStore(f"no store {store!r} in the sandbox")
        if count is None:
            fault = self.faults.set(mode, store=store, **options)
        else:
            fault = self.faults.fail_next(count, mode, store=store, **options)
        return json_response({"fault": fault.to_dict(), "store": store, "next": count,
                      "faults": self.faults.snapshot()})

    def ctl_reset(self, request: Request) -> Response:
        """Fresh catalog for the same seed, no faults, zero counts."""
        self.catalog.reset()
        self.faults.clear_all()
        self.counter.reset()
        return json_response({"version": self.catalog.version, "step": self.catalog.step})

    def ctl_change(self, request: Request, action: str) -> Response:
        """Run one scripted catalog change by name (``Catalog.change``)."""
        change = self.catalog.change(action, **request_params(request))
        return json_response({"version": self.catalog.version, "change": change.to_dict()})

    def ctl_store(self, request: Request, store_id: str) -> Response:
        """A store and every product it ever listed."""
        info = self.catalog.store(store_id)
        if info is None:
            raise UnknownStore(f"no store {store_id!r} in the sandbox")
        return json_response({"store": {"store_id": info.store_id, "name": info.name,
                                "supplier_id": info.supplier_id,
                                "positive_feedback": str(info.positive_feedback),
                                "transactions": info.transactions},
                      "products": [p.to_dict() for p in self.catalog.products(store_id)]})

    def ctl_product(self, request: Request, item_code: str) -> Response:
        """One product in any status."""
        product = self.catalog.product(item_code)
        if product is None:
            raise UnknownProduct(f"no product {item_code!r} in the sandbox")
        return json_response(product.to_dict())


def request_params(request: Request) -> dict[str, Any]:
    """Query-string parameters overlaid with a JSON object body (numbers parsed as Decimal)."""
    params: dict[str, Any] = request.args.to_dict()
    raw = request.get_data(as_text=True)
    if raw.strip():
        try:
            body = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"the body is not valid JSON: {exc.msg}") from None
        if not isinstance(body, dict):
            raise CatalogError("the body must be a JSON object")
        params.update(body)
    return params
