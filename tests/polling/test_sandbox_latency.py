"""The sandbox as a stand-in for a slow DHgate: per-page latency and the per-path request count,
both reachable through the control API (benches set them and read them over HTTP)."""
from __future__ import annotations

import threading
import time

import httpx
import pytest

from sandbox import SandboxServer
from sandbox.model import CatalogError
from sandbox.serving import Latency
from services.dhgate.urls import store_page_path


def test_latency_stays_within_its_jitter_and_varies() -> None:
    latency = Latency(300, 100, seed=4)
    waits = [latency.seconds() for _ in range(2000)]
    assert min(waits) >= 0.2 and max(waits) <= 0.4
    assert len({round(w, 4) for w in waits}) > 100  # jittered, not one fixed value
    latency.set(50)
    assert {latency.seconds() for _ in range(10)} == {0.05}


@pytest.mark.parametrize("fixed, jitter", [(-1, 0), ("slow", 0), (10, -5), (700_000, 0)])
def test_bad_latency_is_refused(fixed: object, jitter: object) -> None:
    with pytest.raises(CatalogError):
        Latency().set(fixed, jitter)  # type: ignore[arg-type]


def test_pages_wait_the_latency_set_through_the_control_api(sandbox: SandboxServer) -> None:
    store_id = sandbox.catalog.store_ids()[0]
    page = sandbox.url(store_page_path(store_id, 0))
    with httpx.Client(timeout=10) as http:
        answer = http.post(sandbox.url("/__sandbox__/latency"), json={"latency_ms": 250, "jitter_ms": 0})
        assert answer.status_code == 200 and answer.json() == {"latency_ms": 250.0, "jitter_ms": 0.0}
        started = time.monotonic()
        assert http.get(page).status_code == 200
        assert time.monotonic() - started >= 0.25
        assert http.get(sandbox.url("/__sandbox__/state")).json()["latency"]["latency_ms"] == 250.0
        # The control API itself never waits, and bad values get a 400 with the reason.
        refused = http.post(sandbox.url("/__sandbox__/latency"), json={"latency_ms": "fast"})
        assert refused.status_code == 400 and "latency_ms" in refused.json()["error"]
        assert http.post(sandbox.url("/__sandbox__/latency"), json={}).status_code == 400
        assert http.get(sandbox.url("/__sandbox__/latency")).json()["latency_ms"] == 250.0


def test_slow_pages_are_served_side_by_side() -> None:
    """Ten pages of 400 ms each, asked at once, are all in flight together: the server sleeps in
    request threads instead of answering one after the other."""
    with SandboxServer(seed=2, stores=2, latency_ms=400) as server:
        store_id = server.catalog.store_ids()[0]
        in_flight_peak = 0
        lock = threading.Lock()
        in_flight = 0
        original = server.app.serving.latency.seconds

        def counted() -> float:
            """The configured wait, taken here while counting how many requests wait at once."""
            nonlocal in_flight, in_flight_peak
            with lock:
                in_flight += 1
                in_flight_peak = max(in_flight_peak, in_flight)
            time.sleep(original())
            with lock:
                in_flight -= 1
            return 0.0

        server.app.serving.latency.seconds = counted  # type: ignore[method-assign]
        threads = [threading.Thread(target=httpx.get, args=(server.url(store_page_path(store_id, i % 2)),),
                                    kwargs={"timeout": 30}) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert in_flight_peak == 10


def test_request_counts_per_path_through_the_control_api(sandbox: SandboxServer) -> None:
    store_id = sandbox.catalog.store_ids()[0]
    first, second = store_page_path(store_id, 0), store_page_path(store_id, 1)
    with httpx.Client(timeout=10) as http:
        for path in (first, first, second):
            http.get(sandbox.url(path))
        counts = http.get(sandbox.url("/__sandbox__/requests")).json()
        assert counts["paths"][first.split("?")[0]] == 2
        assert counts["paths"][second.split("?")[0]] == 1
        assert counts["kinds"]["store"] == 3 and counts["total"] == 3
        assert http.delete(sandbox.url("/__sandbox__/requests")).json()["total"] == 0
    assert sandbox.request_count("store") == 0
