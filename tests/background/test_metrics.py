"""Request metrics: recorded under URL rules, pushed to Redis, flushed into the DB exactly once."""
from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from extensions import db, get_redis
from models.metrics import MetricFlush, RequestMetric
from services import histograms
from services.metrics import Recorder, push_now, recorder_of
from services.metrics_flush import FlushHooks, flush_metrics, processing_index_key
from tests.background.conftest import BIN, PROJECT_ROOT, process_env
from tests.conftest import Stores


def _rows(grain: str, kind: str = "http") -> dict[tuple[str, str], RequestMetric]:
    db.session.expire_all()
    rows = db.session.scalars(select(RequestMetric).where(RequestMetric.grain == grain, RequestMetric.kind == kind))
    return {(r.endpoint, r.status_class): r for r in rows}


def _total_count(grain: str, kind: str = "http") -> int:
    db.session.expire_all()
    return int(db.session.scalar(
        select(func.coalesce(func.sum(RequestMetric.count), 0)).where(RequestMetric.grain == grain, RequestMetric.kind == kind)
    ))


def _recorder(app: Flask, start: datetime) -> tuple[Recorder, list[float]]:
    """A recorder on the test Redis whose clock the test moves (to fill several minutes)."""
    import redis

    now = [start.timestamp()]
    recorder = Recorder(
        lambda: redis.Redis.from_url(app.config["REDIS_URL"]), app.config["REDIS_KEY_PREFIX"],
        push_seconds=3600, push_samples=10**9, buffer_ttl=86400, clock=lambda: now[0],
    )
    return recorder, now


def _fill(recorder: Recorder, clock: list[float], start: datetime, minutes: int, per_minute: int) -> int:
    """Record ``per_minute`` requests in each of ``minutes`` minutes over three endpoints."""
    recorded = 0
    for minute in range(minutes):
        clock[0] = (start + timedelta(minutes=minute, seconds=5)).timestamp()
        for i in range(per_minute):
            endpoint = ("/a", "/b/<int:id>", "/c")[i % 3]
            status = "5xx" if i % 7 == 0 else "2xx"
            recorder.record("http", endpoint, status, float((i * 13) % 900) + 0.5)
            recorded += 1
        recorder.push()
    return recorded


# -- recording ------------------------------------------------------------------------------

def test_requests_are_filed_under_their_url_rule_not_the_raw_path(metrics_app: Flask) -> None:
    metrics_app.add_url_rule("/things/<int:thing_id>", "thing", lambda thing_id: f"thing {thing_id}")
    client = metrics_app.test_client()
    for thing_id in (1, 2, 3):
        thing = client.get(f"/things/{thing_id}")
        assert thing.status_code == 200 and thing.get_data(as_text=True) == f"thing {thing_id}"
    assert client.get("/no/such/page/1").status_code == 404
    assert client.get("/no/such/page/2").status_code == 404
    stylesheet = client.get("/static/css/app.css")
    assert stylesheet.status_code == 200 and stylesheet.mimetype == "text/css" and b"{" in stylesheet.data
    healthz = client.get("/healthz")
    assert healthz.status_code == 200 and healthz.get_json() == {"status": "ok"}
    push_now(metrics_app)
    flush_metrics()

    rows = _rows("minute")
    assert rows[("/things/<int:thing_id>", "2xx")].count == 3
    assert rows[("<unmatched>", "4xx")].count == 2
    assert rows[("static", "2xx")].count == 1
    assert rows[("/healthz", "2xx")].count == 1
    assert not any("/things/1" in endpoint or "/no/such" in endpoint for endpoint, _ in rows)


def test_database_time_of_requests_is_recorded_by_operation(metrics_app: Flask) -> None:
    def two_queries() -> str:
        db.session.execute(text("SELECT 1"))
        db.session.execute(text("SELECT 2"))
        return "ok"

    metrics_app.add_url_rule("/two-queries", "two_queries", two_queries)
    answer = metrics_app.test_client().get("/two-queries")
    assert answer.status_code == 200 and answer.data == b"ok"
    db.session.execute(text("SELECT 3"))  # outside a request: not a request metric
    push_now(metrics_app)
    flush_metrics()
    rows = _rows("minute", kind="db")
    assert rows[("SELECT", "-")].count == 2
    assert all(endpoint in ("SELECT", "INSERT", "UPDATE", "DELETE", "OTHER") for endpoint, _ in rows)


def test_flushed_rows_hold_exact_counts_histograms_and_p95(metrics_app: Flask) -> None:
    client = metrics_app.test_client()
    for _ in range(40):
        client.get("/healthz")
    assert push_now(metrics_app) >= 40
    report = flush_metrics()
    assert report.buffers >= 1

    row = _rows("minute")[("/healthz", "2xx")]
    total = _rows("total")[("/healthz", "2xx")]
    assert row.count == total.count == 40
    assert sum(histograms.from_json(row.histogram)) == 40
    assert row.min_ms is not None and row.max_ms is not None and row.min_ms <= row.p95_ms <= row.max_ms
    assert row.sum_ms == pytest.approx(total.sum_ms)


# -- exactly once ---------------------------------------------------------------------------

def test_concurrent_flushes_while_pushing_count_every_sample_once(metrics_app: Flask) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    recorder, clock = _recorder(metrics_app, start)
    recorded = _fill(recorder, clock, start, minutes=6, per_minute=50)

    errors: list[BaseException] = []
    extra = [0]

    def flusher() -> None:
        with metrics_app.app_context():
            try:
                for _ in range(3):
                    flush_metrics()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    def pusher() -> None:
        extra[0] = _fill(recorder, clock, start + timedelta(minutes=2), minutes=3, per_minute=30)

    threads = [threading.Thread(target=flusher) for _ in range(4)] + [threading.Thread(target=pusher)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    flush_metrics()

    expected = recorded + extra[0]
    assert _total_count("minute") == expected
    assert _total_count("total") == expected
    assert get_redis().zcard(processing_index_key(metrics_app.config["REDIS_KEY_PREFIX"])) == 0
    assert not get_redis().keys("dhm:metrics:buf:*") and not get_redis().keys("dhm:metrics:proc:*")


@pytest.mark.slow
def test_flushes_in_several_processes_count_every_sample_once(metrics_app: Flask, stores: Stores) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)
    recorder, clock = _recorder(metrics_app, start)
    recorded = _fill(recorder, clock, start, minutes=8, per_minute=40)
    env = process_env(stores)
    flushers = [
        subprocess.Popen([str(BIN / "flask"), "metrics", "flush"], cwd=PROJECT_ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in flushers]
    assert all(p.returncode == 0 for p in flushers), outputs
    assert _total_count("minute") == recorded
    assert _total_count("total") == recorded


def test_a_crash_before_the_commit_loses_nothing(metrics_app: Flask) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    recorder, clock = _recorder(metrics_app, start)
    recorded = _fill(recorder, clock, start, minutes=2, per_minute=21)

    def crash(flush_id: str) -> None:
        raise RuntimeError("power cut before commit")

    with pytest.raises(RuntimeError, match="power cut"):
        flush_metrics(hooks=FlushHooks(before_commit=crash))
    assert _total_count("total") == 0  # nothing committed...
    assert get_redis().zcard(processing_index_key("dhm:")) >= 1  # ...and the buffer is still there

    report = flush_metrics()
    assert report.samples == recorded
    assert _total_count("minute") == recorded == _total_count("total")


def test_a_crash_after_the_commit_counts_once(metrics_app: Flask) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    recorder, clock = _recorder(metrics_app, start)
    recorded = _fill(recorder, clock, start, minutes=1, per_minute=30)

    def crash(flush_id: str) -> None:
        raise RuntimeError("killed before deleting the buffer")

    with pytest.raises(RuntimeError, match="killed"):
        flush_metrics(hooks=FlushHooks(after_commit=crash))
    assert _total_count("total") == recorded  # committed...
    assert get_redis().zcard(processing_index_key("dhm:")) == 1  # ...but the buffer was not deleted

    report = flush_metrics()
    assert report.already_committed == 1 and report.samples == 0
    assert _total_count("minute") == recorded == _total_count("total")
    assert get_redis().zcard(processing_index_key("dhm:")) == 0


def test_two_flushers_finishing_the_same_leftover_commit_it_once(metrics_app: Flask) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    recorder, clock = _recorder(metrics_app, start)
    recorded = _fill(recorder, clock, start, minutes=1, per_minute=25)
    with pytest.raises(RuntimeError):
        flush_metrics(hooks=FlushHooks(before_commit=lambda _id: (_ for _ in ()).throw(RuntimeError("crash"))))

    barrier = threading.Barrier(2)
    reports = []

    def finish() -> None:
        with metrics_app.app_context():
            barrier.wait()
            reports.append(flush_metrics())

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.buffers for r in reports) == 1
    assert _total_count("total") == recorded
    assert db.session.scalar(select(func.count()).select_from(MetricFlush)) == 1


def test_a_push_resent_after_a_lost_reply_is_applied_once(metrics_app: Flask) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    recorder, _clock = _recorder(metrics_app, start)
    recorder.record("http", "/x", "2xx", 12.0)
    recorder.record("http", "/x", "2xx", 30.0)
    minute = int(start.timestamp())
    items = list(recorder.take().items())
    recorder._push_batch("batch-1", minute, items)  # the script ran...
    recorder._push_batch("batch-1", minute, items)  # ...the reply was lost, so it is sent again
    flush_metrics()
    assert _rows("minute")[("/x", "2xx")].count == 2


def test_pushes_wait_out_a_redis_outage(metrics_app: Flask) -> None:
    import redis

    real_url = metrics_app.config["REDIS_URL"]
    target = {"url": "redis://127.0.0.1:1/0"}
    recorder = Recorder(
        lambda: redis.Redis.from_url(target["url"], socket_connect_timeout=1), "dhm:",
        push_seconds=3600, push_samples=10**9, buffer_ttl=86400,
    )
    recorder.record("http", "/y", "2xx", 5.0)
    assert recorder.push() == 0 and recorder.unsent_samples == 1
    target["url"] = real_url
    recorder._script = None  # reconnect (what a new connection after the outage does)
    recorder.record("http", "/y", "2xx", 6.0)
    assert recorder.push() == 2
    flush_metrics()
    assert _rows("minute")[("/y", "2xx")].count == 2


def test_metrics_can_be_switched_off(stores: Stores) -> None:
    from services.metrics import init_app
    from tests.conftest import make_app

    app = make_app(stores, METRICS_ENABLED=False)
    init_app(app)
    assert recorder_of(app) is None


# -- histograms -----------------------------------------------------------------------------

def test_histograms_merge_exactly_and_give_sensible_percentiles() -> None:
    one = [0] * histograms.BUCKET_COUNT
    two = [0] * histograms.BUCKET_COUNT
    for value in (3.0, 4.0, 40.0):
        one[histograms.bucket_index(value)] += 1
    for value in (90.0, 2000.0):
        two[histograms.bucket_index(value)] += 1
    merged = histograms.merge(one, two)
    assert sum(merged) == 5
    assert histograms.from_json(histograms.to_json(merged)) == merged
    p50 = histograms.percentile(merged, 0.5, minimum=3.0, maximum=2000.0)
    assert 25 <= p50 <= 50  # the third of five samples (40 ms) lies in the 25–50 ms bucket
    assert histograms.percentile(merged, 1.0, minimum=3.0, maximum=2000.0) == 2000.0
    single = [0] * histograms.BUCKET_COUNT
    single[histograms.bucket_index(7.5)] += 1
    assert histograms.percentile(single, 0.95, minimum=7.5, maximum=7.5) == 7.5
    assert histograms.percentile([0] * histograms.BUCKET_COUNT, 0.5) is None
    with pytest.raises(ValueError):
        histograms.from_json({"17": 1})
