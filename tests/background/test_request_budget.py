"""The request budget with real worker processes: two non-forking polling workers share one
per-host budget through Redis; the sandbox counts what reaches it."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job

from extensions import get_redis
from jobs import monitoring as monitoring_jobs
from sandbox import SandboxServer
from services.polling.batch import job_ids_for
from services.worker_heartbeat import list_workers
from tests.background.conftest import BIN, Processes, process_env, wait_for
from tests.conftest import Stores
from tests.polling.conftest import FAST_POLLING, product_monitor

RATE = 10  # requests per second
MONITORS = 100


@pytest.mark.slow
def test_two_workers_never_exceed_the_budget_and_use_it_under_excess_demand(
    app: Flask, stores: Stores, sandbox: SandboxServer, alice, processes: Processes, tmp_path: Path,  # noqa: ANN001
) -> None:
    app.config.update(FAST_POLLING, DHGATE_BASE_URL=sandbox.base_url, DHGATE_REQUESTS_PER_SECOND=RATE,
                      DHGATE_RATE_BURST=1, POLL_SPREAD_SECONDS=0, POLL_JOB_SIZE=MONITORS // 2, RQ_SYNC=False)
    codes = [p.item_code for s in sandbox.catalog.store_ids() for p in sandbox.catalog.products(s)][:MONITORS]
    ids = [product_monitor(alice, sandbox, code).id for code in codes]
    arrivals: list[float] = []
    lock = threading.Lock()

    def arrived() -> float:
        with lock:
            arrivals.append(time.monotonic())
        return 0.0

    sandbox.app.serving.latency.seconds = arrived  # type: ignore[method-assign]
    env = process_env(stores, DHGATE_BASE_URL=sandbox.base_url, DHGATE_REQUESTS_PER_SECOND=str(RATE),
                      DHGATE_RATE_BURST="1", DHGATE_RETRY_WAIT_SECONDS="0.01")
    for n in range(2):
        processes.start([str(BIN / "python"), "worker.py", "--queues", "polling", "--no-fork"], env,
                        tmp_path / f"worker{n}.log")
    wait_for(lambda: len([w for w in list_workers(get_redis()) if w.alive]) == 2, timeout=60,
             what="both workers to be up")
    assert monitoring_jobs.poll_due_monitors() == MONITORS  # 100 polls of one page: 10 s of budget
    batches = set(job_ids_for(ids))
    assert len(batches) == 2
    wait_for(lambda: sandbox.request_count("product") >= MONITORS, timeout=120, what="every poll to fetch its page")
    workers = {Job.fetch(job_id, connection=get_redis()).worker_name for job_id in batches}
    assert len(workers) == 2  # each worker process ran one batch, side by side

    times = sorted(arrivals)
    assert len(times) == MONITORS  # no retries, nothing fetched twice
    busiest = max(sum(1 for t in times if start <= t < start + 5.0) for start in times)
    assert busiest <= RATE * 5 + 1  # never above: any five seconds hold their budget (+1 for the edges)
    window = 8.0  # the middle of the run, where demand exceeds the budget throughout
    start = times[0] + 0.5
    sent = sum(1 for t in times if start <= t < start + window)
    assert 0.95 * RATE * window <= sent <= RATE * window + 1
