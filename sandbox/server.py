"""The sandbox marketplace's HTTP server: DHgate's URLs, served locally from a :class:`Catalog`.

Tests, demos and benchmarks point the monitor at this server instead of dhgate.com. It answers
the real paths with pages shaped like the real ones, can misbehave on purpose (see
:mod:`.faults`), counts requests per kind so tests can assert how many fetches happened, and has a
JSON control API under ``/__sandbox__/`` to change the marketplace while it runs. A product
page with ``?saved=utf-16`` comes as a browser's saved copy (UTF-16 with a byte-order mark).

It is a threaded werkzeug server (no Flask): a benchmark opens hundreds of connections at once,
so rendered pages are cached per catalog version and a request does little more than a lookup.
"""
from __future__ import annotations

import codecs
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from . import render
from .catalog import Catalog
from .faults import Fault, FaultBook, FaultError, FaultMode
from .model import (
    STORE_TABS,
    CatalogError,
    ProductStatus,
    UnknownProduct,
    UnknownStore,
)

HTML = "text/html; charset=utf-8"
CONTROL_PREFIX = "/__sandbox__"
SEARCH_EXAMPLES = ("led strip", "wireless earbuds", "phone case", "running shoes")
PAGE_CACHE_LIMIT = 20_000
LISTEN_BACKLOG = 1024  # hundreds of simultaneous connects are queued, not refused

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
    Rule(f"{CONTROL_PREFIX}/change/<action>", endpoint="ctl_change", methods=["POST"]),
    Rule(f"{CONTROL_PREFIX}/stores/<store_id>", endpoint="ctl_store", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/products/<item_code>", endpoint="ctl_product", methods=["GET"]),
    Rule(f"{CONTROL_PREFIX}/img/<item_code>.svg", endpoint="image", methods=["GET"]),
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


class SandboxStartError(RuntimeError):
    """The sandbox could not start (port taken, bad address); the message says which."""


@dataclass(frozen=True)
class Page:
    """A rendered answer before faults: status and HTML."""

    status: int
    html: str


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

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._kinds.clear()
            self._paths.clear()


class PageCache:
    """Rendered pages for the current catalog version; a new version drops the old pages."""

    def __init__(self, limit: int = PAGE_CACHE_LIMIT) -> None:
        self._lock = threading.Lock()
        self._version = -1
        self._pages: dict[tuple[Any, ...], Page] = {}
        self._limit = limit

    def get(self, version: int, key: tuple[Any, ...]) -> Page | None:
        """The page rendered for ``key`` at ``version``, if any."""
        with self._lock:
            return self._pages.get(key) if version == self._version else None

    def put(self, version: int, key: tuple[Any, ...], page: Page) -> None:
        """Remember a page; pages of an older version than the newest seen are not kept."""
        with self._lock:
            if version > self._version:
                self._version = version
                self._pages.clear()
            if version == self._version and len(self._pages) < self._limit:
                self._pages[key] = page


class SandboxApp:
    """The WSGI application: routing, faults, caching, the control API."""

    def __init__(self, catalog: Catalog, faults: FaultBook, counter: RequestCounter) -> None:
        self.catalog = catalog
        self.faults = faults
        self.counter = counter
        self.cache = PageCache()
        self._garble_lock = threading.Lock()
        self._garble_rng = random.Random(catalog.seed)

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
                return _json_error(exc.code or 500, exc.description or exc.name)
            if isinstance(exc, MethodNotAllowed | NotFound):
                return Response(render.render_http_error(exc.code or 404, exc.name, "No such page here."),
                                status=exc.code, content_type=HTML)
            return exc.get_response(request.environ)  # redirects and the like
        kind = KIND_BY_ENDPOINT.get(endpoint, "control")
        self.counter.record(kind, request.path)
        handler = getattr(self, f"_{endpoint}")
        try:
            return handler(request, **args)
        except (UnknownStore, UnknownProduct) as exc:
            return _json_error(404, str(exc))
        except (CatalogError, FaultError) as exc:
            return _json_error(400, str(exc))

    # ------------------------------------------------------------ marketplace pages

    def _index(self, request: Request) -> Response:
        base = _base(request)
        body = render.render_index(self.catalog.summary(), self.faults.snapshot(), base, SEARCH_EXAMPLES)
        return Response(body, content_type=HTML)

    def _store_home(self, request: Request, store_no: int) -> Response:
        return self._store_tab(request, tab="products", store_no=store_no, page=0)

    def _store_tab(self, request: Request, tab: str, store_no: int, page: int = 0) -> Response:
        store_id = str(store_no)
        base = _base(request)

        def build() -> Page:
            return self._cached(("store", base, store_id, tab, page),
                                lambda: self._render_store(store_id, tab, page, base))

        def cut(text: str, fault: Fault) -> str:
            return render.truncate_store_page(text, keep_pager=bool(fault.options.get("keep_pager")))

        return self._serve(request, store_id, build, cut)

    def _render_store(self, store_id: str, tab: str, page: int, base: str) -> tuple[int, Page]:
        listing = self.catalog.store_listing(store_id, tab, page)
        if listing is None:
            return self.catalog.version, Page(404, render.render_store_not_found(store_id))
        return listing.version, Page(200, render.render_store_page(listing, base))

    def _product(self, request: Request, slug: str, item_code: int) -> Response:
        code = str(item_code)
        base = _base(request)
        product = self.catalog.product(code)
        store_id = product.store_id if product is not None else None

        def build() -> Page:
            return self._cached(("product", base, code), lambda: self._render_product(code, base))

        response = self._serve(request, store_id, build, lambda text, _fault: render.truncate_product_page(text))
        if request.args.get("saved") == "utf-16" and response.status_code == 200:
            return _saved_as_utf16(response, code)
        return response

    def _render_product(self, code: str, base: str) -> tuple[int, Page]:
        version = self.catalog.version
        product = self.catalog.product(code)
        if product is None:
            return version, Page(404, render.render_not_found_page(code))
        if product.status is ProductStatus.REMOVED:
            return version, Page(410, render.render_not_found_page(code))
        store = self.catalog.store(product.store_id)
        assert store is not None  # products never outlive their store
        return version, Page(200, render.render_product_page(product, store, base))

    def _search(self, request: Request) -> Response:
        keyword = request.args.get("searchkey", "")
        return self._search_page(request, keyword, _page_number(request.args.get("pageNum")))

    def _search_path(self, request: Request, keyword: str, page: int = 0) -> Response:
        return self._search_page(request, keyword.replace("+", " ").replace("-", " "), page)

    def _search_page(self, request: Request, keyword: str, page: int) -> Response:
        keyword = " ".join(keyword.split())
        base = _base(request)

        def build() -> Page:
            return self._cached(("search", base, keyword, page),
                                lambda: self._render_search(keyword, page, base))

        return self._serve(request, None, build, lambda text, _fault: render.truncate_search_page(text))

    def _render_search(self, keyword: str, page: int, base: str) -> tuple[int, Page]:
        listing = self.catalog.search(keyword, page)
        return listing.version, Page(200, render.render_search_page(listing, base))

    def _image(self, request: Request, item_code: str) -> Response:
        return Response(render.render_placeholder_svg(item_code), content_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    # ------------------------------------------------------------ faults and caching

    def _cached(self, key: tuple[Any, ...], produce: Callable[[], tuple[int, Page]]) -> Page:
        page = self.cache.get(self.catalog.version, key)
        if page is None:
            version, page = produce()
            self.cache.put(version, key, page)
        return page

    def _serve(self, request: Request, store_id: str | None, build: Callable[[], Page],
               truncate: Callable[[str, Fault], str]) -> Response:
        """Apply the scope's fault (if any) around building the normal page."""
        fault = self.faults.take(store_id)
        if fault is not None and fault.mode is FaultMode.SLOW:
            time.sleep(float(fault.options["delay"]))
            fault = None
        if fault is not None and fault.mode is not FaultMode.TRUNCATED:
            return self._fault_response(request, fault)
        page = build()
        body = page.html
        if fault is not None and page.status == 200:
            body = truncate(page.html, fault)
        return Response(body, status=page.status, content_type=HTML,
                        headers={"Cache-Control": "no-cache", "X-Sandbox-Version": str(self.catalog.version)})

    def _fault_response(self, request: Request, fault: Fault) -> Response:
        options = fault.options
        if fault.mode is FaultMode.RATE_LIMITED:
            seconds = int(options["retry_after"])
            return Response(render.render_rate_limited(seconds), status=429, content_type=HTML,
                            headers={"Retry-After": str(seconds)})
        if fault.mode is FaultMode.SERVER_ERROR:
            status = int(options["status"])
            return Response(render.render_server_error(status), status=status, content_type=HTML)
        if fault.mode is FaultMode.BLOCKED:
            reference = f"18.{random.getrandbits(32):08x}.{int(time.time())}.{random.getrandbits(32):08x}"
            return Response(render.render_access_denied(request.url, reference),
                            status=int(options["status"]), content_type="text/html",
                            headers={"Server": "AkamaiGHost", "Mime-Version": "1.0"})
        if fault.mode is FaultMode.CHALLENGE:
            ray = f"{random.getrandbits(64):016x}"
            return Response(render.render_challenge(ray), status=int(options["status"]), content_type=HTML,
                            headers={"cf-mitigated": "challenge", "Server": "cloudflare",
                                     "Cache-Control": "private, no-store"})
        with self._garble_lock:
            junk = render.render_garbled(self._garble_rng, str(options["style"]))
        return Response(junk, status=200, content_type=HTML)

    # ------------------------------------------------------------ control API

    def _ctl_state(self, request: Request) -> Response:
        return _json(self.state(_base(request)))

    def state(self, base: str) -> dict[str, Any]:
        """Everything a test or a person wants to know about the running sandbox."""
        summary = self.catalog.summary()
        faults = self.faults.snapshot()
        for store in summary["stores"]:
            sid = store["store_id"]
            store["fault"] = faults["stores"].get(sid)
            store["urls"] = {tab: render.store_tab_url(base, tab, sid, 0) for tab in STORE_TABS}
        summary["faults"] = faults
        summary["requests"] = self.counter.snapshot()
        return summary

    def _ctl_evolve(self, request: Request) -> Response:
        params = _params(request)
        changes = self.catalog.evolve(params.get("steps", 1))
        return _json({"version": self.catalog.version, "step": self.catalog.step,
                      "counts": dict(Counter(c.kind for c in changes)),
                      "changes": [c.to_dict() for c in changes]})

    def _ctl_fault(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear_all()
            return _json({"faults": self.faults.snapshot()})
        params = _params(request)
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
        return _json({"fault": fault.to_dict(), "store": store, "next": count,
                      "faults": self.faults.snapshot()})

    def _ctl_reset(self, request: Request) -> Response:
        self.catalog.reset()
        self.faults.clear_all()
        self.counter.reset()
        return _json({"version": self.catalog.version, "step": self.catalog.step})

    def _ctl_change(self, request: Request, action: str) -> Response:
        change = self.catalog.change(action, **_params(request))
        return _json({"version": self.catalog.version, "change": change.to_dict()})

    def _ctl_store(self, request: Request, store_id: str) -> Response:
        info = self.catalog.store(store_id)
        if info is None:
            raise UnknownStore(f"no store {store_id!r} in the sandbox")
        return _json({"store": {"store_id": info.store_id, "name": info.name,
                                "supplier_id": info.supplier_id,
                                "positive_feedback": str(info.positive_feedback),
                                "transactions": info.transactions},
                      "products": [p.to_dict() for p in self.catalog.products(store_id)]})

    def _ctl_product(self, request: Request, item_code: str) -> Response:
        product = self.catalog.product(item_code)
        if product is None:
            raise UnknownProduct(f"no product {item_code!r} in the sandbox")
        return _json(product.to_dict())


def _base(request: Request) -> str:
    return request.host_url.rstrip("/")


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


def _params(request: Request) -> dict[str, Any]:
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


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload, default=str), status=status, content_type="application/json")


def _json_error(status: int, message: str) -> Response:
    return _json({"error": message}, status=status)


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen ourselves, so a taken port is a clear ``SandboxStartError`` (werkzeug
    would print to stderr and exit the process) and the backlog is deep enough for bursts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as exc:
        raise SandboxStartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class _QuietHandler(WSGIRequestHandler):
    """Keeps werkzeug's per-request log lines out of test and benchmark output."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Deliberately silent: a benchmark makes thousands of requests."""


class _SandboxWSGIServer(ThreadedWSGIServer):
    """Threaded; request threads are daemons so a stuck slow-mode request never blocks exit."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


class SandboxServer:
    """A running sandbox marketplace on 127.0.0.1 (port 0 picks a free port).

    >>> with SandboxServer(seed=3, stores=4) as sandbox:   # doctest: +SKIP
    ...     httpx.get(sandbox.store_url(sandbox.catalog.store_ids()[0]))
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        stores: int = 12,
        products_per_store: int = 40,
        evolve_every: float | None = None,
        *,
        store_page_size: int = 24,
        search_page_size: int = 40,
    ) -> None:
        if evolve_every is not None and not evolve_every > 0:
            raise CatalogError(f"evolve_every must be a positive number of seconds, got {evolve_every!r}")
        self.host = host
        self.port = int(port)
        self.base_url = ""
        self.evolve_every = evolve_every
        self.catalog = Catalog(seed=seed, stores=stores, products_per_store=products_per_store,
                               store_page_size=store_page_size, search_page_size=search_page_size)
        self.faults = FaultBook()
        self.requests = RequestCounter()
        self.app = SandboxApp(self.catalog, self.faults, self.requests)
        self._httpd: _SandboxWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        """Bind, serve from a background thread, and fill in ``port`` and ``base_url``."""
        if self._httpd is not None:
            raise SandboxStartError("the sandbox is already running")
        listener = _listen(self.host, self.port)
        try:  # werkzeug serves the socket bound above (a duplicate of it) and closes that one
            self._httpd = _SandboxWSGIServer(self.host, self.port, self.app, handler=_QuietHandler,
                                             fd=listener.fileno())
        finally:
            listener.close()
        self.port = int(self._httpd.socket.getsockname()[1])
        shown_host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in shown_host:
            shown_host = f"[{shown_host}]"
        self.base_url = f"http://{shown_host}:{self.port}"
        self._stopping.clear()
        serve = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                 name=f"dhgate-sandbox:{self.port}", daemon=True)
        serve.start()
        self._threads = [serve]
        if self.evolve_every is not None:
            evolver = threading.Thread(target=self._evolve_loop, name="dhgate-sandbox-evolver", daemon=True)
            evolver.start()
            self._threads.append(evolver)
        return self

    def _evolve_loop(self) -> None:
        assert self.evolve_every is not None
        while not self._stopping.wait(self.evolve_every):
            self.catalog.evolve(1)

    def stop(self) -> None:
        """Stop serving and release the port (safe to call twice)."""
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._httpd is not None

    def __enter__(self) -> SandboxServer:
        return self if self.running else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------ URLs

    def url(self, path: str) -> str:
        """Absolute URL for a path on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def store_url(self, store_id: str, tab: str = "products", page: int = 0) -> str:
        """A store tab page (zero-based ``page``)."""
        return render.store_tab_url(self.base_url, tab, store_id, page)

    def product_url(self, item_code: str) -> str:
        """The product page with its slug (any slug works, as on the real site)."""
        product = self.catalog.product(item_code)
        slug = product.slug if product is not None else "item"
        return f"{self.base_url}/product/{slug}/{item_code}.html"

    def search_url(self, keyword: str, page: int = 0) -> str:
        """The ``search.do`` form of a search (zero-based ``page``)."""
        return (f"{self.base_url}/wholesale/search.do?act=search&searchkey={quote_plus(keyword)}"
                f"&pageNum={page}")

    # ------------------------------------------------------------ faults and counts

    def set_fault(self, mode: str | FaultMode, store: str | None = None, **options: Any) -> Fault:
        """Switch a store (or the whole site) to a fault mode until changed; ``ok`` clears."""
        return self.faults.set(mode, store=store, **options)

    def fail_next(self, count: int, mode: str | FaultMode = FaultMode.SERVER_ERROR,
                  store: str | None = None, **options: Any) -> Fault:
        """Fail the next ``count`` requests of a store (or of the site), then recover."""
        return self.faults.fail_next(count, mode, store=store, **options)

    def clear_faults(self, store: str | None = None) -> None:
        """No faults anywhere (or, given a store, none for that store)."""
        if store is None:
            self.faults.clear_all()
        else:
            self.faults.clear(store)

    def request_count(self, kind: str | None = None) -> int:
        """Requests served of a kind (store, search, product, index, image, control, other);
        without a kind, all but control-API calls."""
        return self.requests.count(kind)

    def path_count(self, path: str) -> int:
        """Requests for exactly this path."""
        return self.requests.path_count(path)

    def reset_counts(self) -> None:
        """Count from zero again."""
        self.requests.reset()

    def reset(self) -> None:
        """Fresh catalog for the same seed, no faults, zero counts."""
        self.catalog.reset()
        self.faults.clear_all()
        self.requests.reset()


def run_sandbox(host: str, port: int, seed: int, stores: int, evolve_every: float | None) -> None:
    """Serve the sandbox in the foreground until Ctrl-C (what ``flask dhgate sandbox`` runs)."""
    try:
        server = SandboxServer(host=host, port=port, seed=seed, stores=stores, evolve_every=evolve_every)
        server.start()
    except (SandboxStartError, CatalogError) as exc:
        raise SystemExit(f"DHgate sandbox: {exc}") from None
    evolving = f", evolving every {evolve_every:g}s" if evolve_every else ""
    print(f"DHgate sandbox marketplace on {server.base_url} (seed {seed}, {stores} stores{evolving}); "
          f"Ctrl-C to stop", flush=True)
    try:
        while server.running:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
