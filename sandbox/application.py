"""The sandbox's WSGI application: which page a request wants, and the answer to every error.

It maps DHgate's real paths (see :mod:`.routing`) onto the catalog's pages, rendered by the
``render_*`` modules and served through :mod:`.serving` (cache and faults); ``ctl_*`` endpoints
go to the control API in :mod:`.control`. Every error becomes a proper answer, never a
traceback: a monitor under test must meet the failures DHgate produces, not the sandbox's own.
A product page with ``?saved=utf-16`` comes as a browser's saved copy (UTF-16 with a byte-order
mark).
"""
from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Request, Response

from .affiliate_api import AffiliateApi
from .affiliate_network import AffiliateNetwork
from .catalog import Catalog
from .control import ControlApi
from .faults import Fault, FaultBook, FaultError
from .model import CatalogError, ProductStatus, UnknownProduct, UnknownStore
from .render_failures import render_http_error
from .render_index import render_index, render_placeholder_svg
from .render_product import render_not_found_page, render_product_page, truncate_product_page
from .render_search import render_search_page, truncate_search_page
from .render_store import render_store_not_found, render_store_page, truncate_store_page
from .routing import (
    CONTROL_PREFIX,
    HTML,
    KIND_BY_ENDPOINT,
    URL_MAP,
    RequestCounter,
    base_url,
    json_error,
)
from .serving import Latency, Page, PageServing

SEARCH_EXAMPLES = ("led strip", "wireless earbuds", "phone case", "running shoes")


class SandboxApp:
    """The WSGI application: routing, the marketplace pages, and the control API."""

    def __init__(self, catalog: Catalog, faults: FaultBook, counter: RequestCounter,
                 network: AffiliateNetwork | None = None, latency: Latency | None = None) -> None:
        self.catalog = catalog
        self.faults = faults
        self.counter = counter
        self.network = network or AffiliateNetwork(seed=catalog.seed)
        self.affiliate = AffiliateApi(self.network)
        self.serving = PageServing(catalog, faults, latency)
        self.control = ControlApi(catalog, faults, counter, self.serving.latency)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route one request and turn every error into a proper answer (never a traceback)."""
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except HTTPException as exc:
            control = request.path.startswith(CONTROL_PREFIX)
            self.counter.record("control" if control else "other", request.path)
            if control:
                return json_error(exc.code or 500, exc.description or exc.name)
            if isinstance(exc, MethodNotAllowed | NotFound):
                return Response(render_http_error(exc.code or 404, exc.name, "No such page here."),
                                status=exc.code, content_type=HTML)
            return exc.get_response(request.environ)  # redirects and the like
        kind = KIND_BY_ENDPOINT.get(endpoint, "control")
        self.counter.record(kind, request.path)
        handler = (getattr(self.control, endpoint) if endpoint.startswith("ctl_")
                   else getattr(self.affiliate, endpoint) if endpoint.startswith("aff_")
                   else getattr(self, f"_{endpoint}"))
        try:
            return handler(request, **args)
        except (UnknownStore, UnknownProduct) as exc:
            return json_error(404, str(exc))
        except (CatalogError, FaultError) as exc:
            return json_error(400, str(exc))

    # ------------------------------------------------------------ marketplace pages

    def _index(self, request: Request) -> Response:
        base = base_url(request)
        body = render_index(self.catalog.summary(), self.faults.snapshot(), base, SEARCH_EXAMPLES)
        return Response(body, content_type=HTML)

    def _store_home(self, request: Request, store_no: int) -> Response:
        return self._store_tab(request, tab="products", store_no=store_no, page=0)

    def _store_tab(self, request: Request, tab: str, store_no: int, page: int = 0) -> Response:
        store_id = str(store_no)
        base = base_url(request)

        def build() -> Page:
            return self.serving.cached(("store", base, store_id, tab, page),
                                lambda: self._render_store(store_id, tab, page, base))

        def cut(text: str, fault: Fault) -> str:
            return truncate_store_page(text, keep_pager=bool(fault.options.get("keep_pager")))

        return self.serving.serve(request, store_id, build, cut)

    def _render_store(self, store_id: str, tab: str, page: int, base: str) -> tuple[int, Page]:
        listing = self.catalog.store_listing(store_id, tab, page)
        if listing is None:
            return self.catalog.version, Page(404, render_store_not_found(store_id))
        return listing.version, Page(200, render_store_page(listing, base))

    def _product(self, request: Request, slug: str, item_code: int) -> Response:
        code = str(item_code)
        base = base_url(request)
        product = self.catalog.product(code)
        store_id = product.store_id if product is not None else None

        def build() -> Page:
            return self.serving.cached(("product", base, code), lambda: self._render_product(code, base))

        response = self.serving.serve(request, store_id, build, lambda text, _fault: truncate_product_page(text))
        if response.status_code == 200 and product is not None:  # a tracked click landed: the network notes it
            self.network.note_landing(request.args.get(self.network.ref_param), code, product.price_min)
        if request.args.get("saved") == "utf-16" and response.status_code == 200:
            return _saved_as_utf16(response, code)
        return response

    def _render_product(self, code: str, base: str) -> tuple[int, Page]:
        version = self.catalog.version
        product = self.catalog.product(code)
        if product is None:
            return version, Page(404, render_not_found_page(code))
        if product.status is ProductStatus.REMOVED:
            return version, Page(410, render_not_found_page(code))
        store = self.catalog.store(product.store_id)
        assert store is not None  # products never outlive their store
        return version, Page(200, render_product_page(product, store, base))

    def _search(self, request: Request) -> Response:
        keyword = request.args.get("searchkey", "")
        return self._search_page(request, keyword, _page_number(request.args.get("pageNum")))

    def _search_path(self, request: Request, keyword: str, page: int = 0) -> Response:
        return self._search_page(request, keyword.replace("+", " ").replace("-", " "), page)

    def _search_page(self, request: Request, keyword: str, page: int) -> Response:
        keyword = " ".join(keyword.split())
        base = base_url(request)

        def build() -> Page:
            return self.serving.cached(("search", base, keyword, page),
                                lambda: self._render_search(keyword, page, base))

        return self.serving.serve(request, None, build, lambda text, _fault: truncate_search_page(text))

    def _render_search(self, keyword: str, page: int, base: str) -> tuple[int, Page]:
        listing = self.catalog.search(keyword, page)
        return listing.version, Page(200, render_search_page(listing, base))

    def _image(self, request: Request, item_code: str) -> Response:
        return Response(render_placeholder_svg(item_code), content_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    def state(self, base: str) -> dict[str, Any]:
        """Everything a test or a person wants to know about the running sandbox."""
        return self.control.state(base)


def _saved_as_utf16(response: Response, name: str) -> Response:
    """The page as a browser saves it (``?saved=utf-16``): UTF-16 LE with a byte-order mark, its
    ``<meta charSet="utf-8">`` left as it was, offered as a download without an HTTP charset."""
    body = codecs.BOM_UTF16_LE + response.get_data(as_text=True).encode("utf-16-le")
    return Response(body, status=response.status_code, content_type="text/html",
                    headers={"Content-Disposition": f'attachment; filename="{name}.html"', "Cache-Control": "no-cache"})


def _page_number(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0
