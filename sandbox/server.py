"""The sandbox marketplace's HTTP server: DHgate's URLs, served locally from a :class:`Catalog`.

Tests, demos and benchmarks point the monitor at this server instead of dhgate.com. It answers
the real paths with pages shaped like the real ones (:mod:`.application`), can misbehave on
purpose (see :mod:`.faults`), counts requests per kind so tests can assert how many fetches
happened, and has a JSON control API under ``/__sandbox__/`` (:mod:`.control`) to change the
marketplace while it runs. This module owns the process side: binding the port, the serving and
evolver threads, and the convenience methods tests call.

It is a threaded werkzeug server (no Flask): a benchmark opens hundreds of connections at once,
so the listen backlog is deep and request threads are daemons. ``latency_ms``/``jitter_ms`` make
every page wait like a real one (a sleep in its request thread, so slow pages hold no core).
"""
from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .affiliate_network import AffiliateNetwork, Pusher
from .application import SandboxApp
from .catalog import Catalog
from .faults import Fault, FaultBook, FaultMode
from .model import CatalogError
from .render_common import store_tab_url
from .routing import RequestCounter
from .serving import Latency

LISTEN_BACKLOG = 1024  # hundreds of simultaneous connects are queued, not refused


class SandboxStartError(RuntimeError):
    """The sandbox could not start (port taken, bad address); the message says which."""


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
        conversion_share: float = 0.3,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
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
        self.network = AffiliateNetwork(seed=seed, conversion_share=conversion_share)
        self.latency = Latency(latency_ms, jitter_ms, seed=seed)
        self.app = SandboxApp(self.catalog, self.faults, self.requests, self.network, self.latency)
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
        return store_tab_url(self.base_url, tab, store_id, page)

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

    def set_latency(self, latency_ms: float, jitter_ms: float = 0.0) -> None:
        """Every marketplace answer waits ``latency_ms`` ± ``jitter_ms`` from now on."""
        self.latency.set(latency_ms, jitter_ms)

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
        self.network.reset()


def run_sandbox(host: str, port: int, seed: int, stores: int, evolve_every: float | None, *,
                postback_url: str | None = None, postback_secret: str | None = None,
                push_every: float = 10.0, push_delay: float = 20.0, conversion_share: float = 0.3,
                latency_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
    """Serve the sandbox in the foreground until Ctrl-C (what ``flask dhgate sandbox`` runs).

    With ``postback_url`` and ``postback_secret`` the affiliate network pushes its orders there
    every ``push_every`` seconds, once they are ``push_delay`` seconds old (the demo)."""
    pusher: Pusher | None = None
    try:
        server = SandboxServer(host=host, port=port, seed=seed, stores=stores, evolve_every=evolve_every,
                               conversion_share=conversion_share, latency_ms=latency_ms, jitter_ms=jitter_ms)
        server.start()
    except (SandboxStartError, CatalogError, ValueError) as exc:
        raise SystemExit(f"DHgate sandbox: {exc}") from None
    if postback_url and postback_secret:
        pusher = Pusher(server.network, postback_url, postback_secret, push_every, push_delay).start()
        print(f"affiliate network: {conversion_share:.0%} of clicks become orders, pushed to {postback_url}",
              flush=True)
    evolving = f", evolving every {evolve_every:g}s" if evolve_every else ""
    slow = f", {latency_ms:g}±{jitter_ms:g} ms per page" if latency_ms or jitter_ms else ""
    print(f"DHgate sandbox marketplace on {server.base_url} (seed {seed}, {stores} stores{evolving}{slow}); "
          f"Ctrl-C to stop", flush=True)
    try:
        while server.running:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        if pusher is not None:
            pusher.stop()
        server.stop()
