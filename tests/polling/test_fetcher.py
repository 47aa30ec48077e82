"""The fetcher against real HTTP servers: retries, Retry-After, shared rate limit, shared breaker."""
from __future__ import annotations

import email.utils
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pybreaker
import pytest
from flask import Flask
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from sandbox import SandboxServer
from services.dhgate.breaker import CircuitOpen, HostBreaker
from services.dhgate.clock import set_clock
from services.dhgate.fetcher import ForbiddenTarget, get_fetcher
from services.dhgate.ratelimit import SEND_MARGIN
from services.dhgate.types import PollOutcome
from services.dhgate.urls import store_page_path
from tests.clock import FakeClock
from tests.conftest import Stores, make_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def page(store_id: str) -> str:
    return store_page_path(store_id, 0)


@pytest.fixture
def clock(papp: Flask) -> FakeClock:
    """The fetcher's clock, moved by the test: waits are recorded, not slept."""
    fake = FakeClock()
    set_clock(papp, fake)
    return fake


# ------------------------------------------------------------------------------------ retries


def test_retries_a_503_then_succeeds(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    sandbox.fail_next(2, "server_error", store=store_id, status=503)
    result = get_fetcher().fetch(page)
    assert result.outcome is PollOutcome.OK and result.status_code == 200
    assert result.attempts == 3 and len(result.waits) == 2
    assert sandbox.path_count(page.split("?")[0]) == 3
    assert "proGallery" in (result.text or "")


def test_gives_up_after_the_configured_attempts(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config["DHGATE_RETRY_ATTEMPTS"] = 4
    sandbox.set_fault("server_error", store=store_id, status=502)
    result = get_fetcher().fetch(page)
    assert (result.outcome, result.status_code, result.attempts) == (PollOutcome.HTTP_ERROR, 502, 4)
    assert sandbox.path_count(page) == 4
    assert result.text is None  # an error page is never handed to the parser


def test_429_retry_after_is_capped(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config["DHGATE_RETRY_AFTER_MAX_SECONDS"] = 0.05
    sandbox.fail_next(1, "rate_limited", store=store_id, retry_after=30)
    result = get_fetcher().fetch(page)
    assert result.outcome is PollOutcome.OK
    assert result.waits == [0.05]  # 30 s asked, the cap waited


def test_429_retry_after_below_the_cap_is_honoured(
    papp: Flask, sandbox: SandboxServer, store_id: str, page: str, clock: FakeClock,
) -> None:
    papp.config["DHGATE_RETRY_AFTER_MAX_SECONDS"] = 5.0
    sandbox.fail_next(1, "rate_limited", store=store_id, retry_after=3)
    result = get_fetcher().fetch(page)
    assert result.outcome is PollOutcome.OK
    assert result.waits == [3.0] and 3.0 in clock.sleeps  # waited on the fetcher's clock




def test_429_until_the_end_is_blocked(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    sandbox.set_fault("rate_limited", store=store_id, retry_after=0)
    result = get_fetcher().fetch(page)
    assert (result.outcome, result.status_code, result.attempts) == (PollOutcome.BLOCKED, 429, 3)


@pytest.mark.parametrize("mode", ["blocked", "challenge"])
def test_blocks_are_not_retried(papp: Flask, sandbox: SandboxServer, store_id: str, page: str, mode: str) -> None:
    sandbox.set_fault(mode, store=store_id)
    result = get_fetcher().fetch(page)
    assert (result.outcome, result.attempts) == (PollOutcome.BLOCKED, 1)
    assert sandbox.path_count(page) == 1


def test_timeouts_are_retried_then_reported(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config.update(DHGATE_TIMEOUT_SECONDS=0.2, DHGATE_RETRY_ATTEMPTS=2)
    sandbox.set_fault("slow", store=store_id, delay=1.0)
    result = get_fetcher().fetch(page)
    assert (result.outcome, result.attempts) == (PollOutcome.TIMEOUT, 2)


def test_nothing_waits_past_the_deadline(
    papp: Flask, sandbox: SandboxServer, store_id: str, page: str, clock: FakeClock,
) -> None:
    papp.config.update(DHGATE_RETRY_AFTER_MAX_SECONDS=30.0, DHGATE_RETRY_ATTEMPTS=5)
    sandbox.set_fault("rate_limited", store=store_id, retry_after=20)
    result = get_fetcher().fetch(page, deadline=clock.monotonic() + 2)
    assert result.outcome is PollOutcome.BLOCKED
    assert result.attempts == 1 and result.waits == []  # a 20 s wait would pass the deadline
    sandbox.set_fault("rate_limited", store=store_id, retry_after=1)
    result = get_fetcher().fetch(page, deadline=clock.monotonic() + 2.5)
    assert result.waits == [1.0, 1.0] and result.attempts == 3  # a third 1 s wait would pass it


# ----------------------------------------------------------------------- only the DHgate host


@pytest.mark.parametrize("target", [
    "http://evil.example/store/1.html",
    "//evil.example/store/1.html",
    "http://127.0.0.1:1/store/1.html",
    "/store/1.html\r\nHost: evil.example",
    "/store/1 .html",
    "/store\\..\\evil.example",
    "/store/1.html\x00",
    "/store/1.html\x7f\x1f",
    "",
])
def test_only_the_configured_host_is_fetched(papp: Flask, target: str) -> None:
    with pytest.raises(ForbiddenTarget):
        get_fetcher().fetch(target)


class _Recorder:
    """A tiny real HTTP server that records request headers and can redirect."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.redirect_to: str | None = None
        self.busy_until: str | None = None  # a Retry-After date /busy answers once with a 429
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def app(self, environ: dict, start_response):  # noqa: ANN001, ANN201
        request = Request(environ)
        self.headers.append(dict(request.headers))
        if self.redirect_to and request.path == "/away":
            response = Response("", status=302, headers={"Location": self.redirect_to})
        elif request.path == "/busy" and self.busy_until:
            response = Response("slow down", status=429, headers={"Retry-After": self.busy_until})
            self.busy_until = None
        elif request.path == "/here":
            response = Response("", status=301, headers={"Location": "/landed"})
        else:
            response = Response("<html><body>ok</body></html>", content_type="text/html")
            response.set_cookie("session", "tracked-visitor-42", path="/")
            response.set_cookie("language", "de", path="/")  # an answer trying to switch the locale
        return response(environ, start_response)


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    server = _Recorder()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()


def test_sends_browser_headers_and_locale_cookies(papp: Flask, recorder: _Recorder) -> None:
    papp.config["DHGATE_BASE_URL"] = recorder.base_url
    result = get_fetcher().fetch("/anything.html")
    assert result.outcome is PollOutcome.OK
    headers = recorder.headers[-1]
    cookies = {part.split("=")[0].strip(): part.split("=")[1] for part in headers["Cookie"].split(";")}
    assert cookies == {"language": "en", "b2b_ship_country": "US", "intl_currency": "USD"}
    assert headers["User-Agent"].startswith("Mozilla/5.0") and "Chrome" in headers["User-Agent"]
    assert "text/html" in headers["Accept"] and headers["Accept-Language"].startswith("en")


def test_cookies_set_by_answers_are_never_sent_back(papp: Flask, recorder: _Recorder) -> None:
    """Every request carries the locale cookies and nothing else: no session builds up."""
    papp.config["DHGATE_BASE_URL"] = recorder.base_url
    for _ in range(3):
        assert get_fetcher().fetch("/anything.html").outcome is PollOutcome.OK
    for headers in recorder.headers:
        assert headers["Cookie"] == "language=en; b2b_ship_country=US; intl_currency=USD"


def test_a_forked_process_adopts_the_fetcher_with_a_client_of_its_own(
    papp: Flask, sandbox: SandboxServer, page: str,
) -> None:
    """A worker builds the fetcher before forking; each work horse keeps its breaker and rate
    limiter but must never touch the parent's sockets."""
    parent = get_fetcher()
    assert parent.fetch(page).outcome is PollOutcome.OK  # the parent now holds a live connection
    parent_client = parent.client
    pid = os.fork()
    if pid == 0:  # the work horse
        code = 1
        try:
            with papp.app_context():
                child = get_fetcher()
                adopted = child is parent and child.client is not parent_client and child._pid == os.getpid()
                code = 0 if adopted and child.fetch(page).outcome is PollOutcome.OK else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert get_fetcher().client is parent_client  # the parent's own stays as it was, and works
    assert parent.fetch(page).outcome is PollOutcome.OK


def test_retry_after_as_an_http_date_is_read_on_the_fetchers_clock(
    papp: Flask, recorder: _Recorder, clock: FakeClock,
) -> None:
    papp.config.update(DHGATE_BASE_URL=recorder.base_url, DHGATE_RETRY_AFTER_MAX_SECONDS=60.0)
    recorder.busy_until = email.utils.formatdate(clock.time() + 40, usegmt=True)  # whole seconds
    result = get_fetcher().fetch("/busy", deadline=clock.monotonic() + 100)
    assert result.outcome is PollOutcome.OK and result.attempts == 2
    assert len(result.waits) == 1 and 39.0 < result.waits[0] <= 40.0  # 40 s on the clock, not 0


def test_redirects_stay_on_the_host(papp: Flask, recorder: _Recorder) -> None:
    papp.config["DHGATE_BASE_URL"] = recorder.base_url
    result = get_fetcher().fetch("/here")
    assert result.outcome is PollOutcome.OK and recorder.headers[-1] is not None
    recorder.redirect_to = "http://localhost:9/internal"  # another host: not followed
    result = get_fetcher().fetch("/away")
    assert result.outcome is PollOutcome.HTTP_ERROR and "redirected away" in (result.error or "")


# ------------------------------------------------------------------------------ rate limit


def test_rate_limit_is_shared_by_two_apps_on_the_same_redis(papp: Flask, stores: Stores, sandbox: SandboxServer) -> None:
    papp.config.update(DHGATE_REQUESTS_PER_SECOND=2.0, DHGATE_RATE_BURST=1)
    other = make_app(stores, DHGATE_BASE_URL=sandbox.base_url, DHGATE_REQUESTS_PER_SECOND=2.0, DHGATE_RATE_BURST=1)
    first = get_fetcher(papp).limiter
    second = get_fetcher(other).limiter
    assert first is not second and first.key == second.key
    slots = [first.reserve(10).slot_us, second.reserve(10).slot_us, first.reserve(10).slot_us]
    assert [b - a for a, b in itertools.pairwise(slots)] == [500_000, 500_000]  # one slot every 0.5 s
    too_far = second.reserve(max_wait=0.1)  # the next slot is about a second away
    assert not too_far.granted
    assert first.reserve(10).slot_us - slots[-1] == 500_000  # the refused one reserved nothing


def test_fetches_wait_for_their_slot(papp: Flask, sandbox: SandboxServer, page: str, clock: FakeClock) -> None:
    papp.config.update(DHGATE_REQUESTS_PER_SECOND=0.1, DHGATE_RATE_BURST=1)  # a slot every 10 s
    fetcher = get_fetcher()
    fetcher.limiter.reserve(10)  # someone else just took the current slot
    result = fetcher.fetch(page, deadline=clock.monotonic() + 0.3)
    assert result.outcome is PollOutcome.TIMEOUT  # the next slot lies beyond this deadline
    assert sandbox.path_count(page) == 0 and clock.sleeps == []
    result = fetcher.fetch(page, deadline=clock.monotonic() + 30)
    assert result.outcome is PollOutcome.OK and sandbox.path_count(page) == 1
    assert 5.0 < clock.sleeps[0] <= 10.0  # it waited for the next slot
    # then the send gate held it the margin more after the request sent at the start
    assert clock.sleeps[1:] == [pytest.approx(10.0 * SEND_MARGIN)]


def test_a_fetch_from_a_healthy_host_asks_redis_once(
    papp: Flask, sandbox: SandboxServer, page: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Breaker state and rate-limit slot come from one script call, and a success with nothing
    to reset writes nothing more."""
    fetcher = get_fetcher()
    assert fetcher.fetch(page).outcome is PollOutcome.OK  # scripts loaded, breaker state created
    redis_client = fetcher.limiter._redis
    sent: list[str] = []
    real_execute = redis_client.execute_command

    def counting_execute(*args, **options):  # noqa: ANN002, ANN003, ANN202
        sent.append(str(args[0]))
        return real_execute(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting_execute)
    for _ in range(5):
        assert fetcher.fetch(page).outcome is PollOutcome.OK
    assert sent == ["EVALSHA"] * 5


def test_the_gated_reservation_takes_no_slot_while_the_circuit_is_open(papp: Flask) -> None:
    papp.config.update(DHGATE_REQUESTS_PER_SECOND=1.0, DHGATE_RATE_BURST=1)
    fetcher = get_fetcher()
    limiter, breaker = fetcher.limiter, fetcher.breaker
    limiter._redis.set(breaker.state_key, "open")
    slot, state, _ = limiter.reserve_gated(breaker.state_key, breaker.counter_key, "closed", max_wait=10)
    assert slot is None and state == b"open"
    limiter._redis.set(breaker.state_key, "closed")
    slot, state, _ = limiter.reserve_gated(breaker.state_key, breaker.counter_key, "closed", max_wait=10)
    assert slot is not None and slot.granted and slot.wait == 0  # the open circuit took nothing
    assert limiter.reserve(10).wait > 0.5  # and this one did take the current slot


# ----------------------------------------------------------------------- circuit breaker


def _probe(stores: Stores, base_url: str, path: str, reset: float = 60.0, now: float | None = None) -> dict:
    """Fetch ``path`` from another process on the same Redis and database (on a clock stopped
    at ``now`` when given)."""
    command = [sys.executable, "-m", "tests.polling.probe", "--database-url", stores.database_url,
               "--redis-url", stores.redis_url, "--instance-path", stores.instance_path,
               "--base-url", base_url, "--path", path, "--breaker-reset", str(reset)]
    if now is not None:
        command += ["--now", repr(now)]
    env = {**os.environ, "APP_ENV": "testing"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _open_breaker(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config.update(DHGATE_RETRY_ATTEMPTS=1, DHGATE_BREAKER_FAILURES=5)
    sandbox.set_fault("server_error", store=store_id)
    outcomes = [get_fetcher().fetch(page).outcome for _ in range(5)]
    assert outcomes == [PollOutcome.HTTP_ERROR] * 5
    assert get_fetcher().breaker.state == "open"


def test_breaker_opens_after_five_failures_for_every_process(
    papp: Flask, stores: Stores, sandbox: SandboxServer, store_id: str, page: str,
) -> None:
    _open_breaker(papp, sandbox, store_id, page)
    assert sandbox.path_count(page) == 5
    result = get_fetcher().fetch(page)
    assert result.outcome is PollOutcome.CIRCUIT_OPEN and sandbox.path_count(page) == 5
    sandbox.clear_faults()  # the host is fine again, but the circuit stays open until the timeout
    seen = _probe(stores, sandbox.base_url, page)
    assert seen == {"outcome": "circuit_open", "status": None, "breaker": "open"}
    assert sandbox.path_count(page) == 5  # the other process did not reach the host either


def test_blocked_answers_count_against_the_breaker(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config.update(DHGATE_BREAKER_FAILURES=5)
    sandbox.set_fault("blocked", store=store_id)
    for _ in range(5):
        assert get_fetcher().fetch(page).outcome is PollOutcome.BLOCKED
    assert get_fetcher().fetch(page).outcome is PollOutcome.CIRCUIT_OPEN


def test_gone_and_successes_reset_the_failure_count(papp: Flask, sandbox: SandboxServer, store_id: str, page: str) -> None:
    papp.config.update(DHGATE_RETRY_ATTEMPTS=1, DHGATE_BREAKER_FAILURES=5)
    fetcher = get_fetcher()
    sandbox.fail_next(4, "server_error", store=store_id)
    for _ in range(4):
        fetcher.fetch(page)
    assert fetcher.breaker.fail_counter == 4
    assert fetcher.fetch("/product/x/123.html").outcome is PollOutcome.GONE  # a healthy 404
    assert fetcher.breaker.fail_counter == 0 and fetcher.breaker.state == "closed"


def test_breaker_half_opens_after_the_reset_timeout(
    papp: Flask, stores: Stores, sandbox: SandboxServer, store_id: str, page: str, clock: FakeClock,
) -> None:
    papp.config["DHGATE_BREAKER_RESET_SECONDS"] = 10.0
    _open_breaker(papp, sandbox, store_id, page)
    clock.advance(9.9)
    assert get_fetcher().fetch(page).outcome is PollOutcome.CIRCUIT_OPEN  # not yet
    clock.advance(0.2)
    # The trial fails: open again, at once, for everybody.
    failed_trial = get_fetcher().fetch(page)
    assert failed_trial.outcome is PollOutcome.HTTP_ERROR and sandbox.path_count(page) == 6
    assert get_fetcher().fetch(page).outcome is PollOutcome.CIRCUIT_OPEN
    clock.advance(10.1)
    sandbox.clear_faults()
    # This time the trial comes from the other process (at the same time) and succeeds: closed
    # for everybody.
    seen = _probe(stores, sandbox.base_url, page, reset=10.0, now=clock.time())
    assert seen == {"outcome": "ok", "status": 200, "breaker": "closed"}
    assert get_fetcher().fetch(page).outcome is PollOutcome.OK


def test_only_one_trial_at_a_time(
    papp: Flask, sandbox: SandboxServer, store_id: str, page: str, clock: FakeClock,
) -> None:
    papp.config["DHGATE_BREAKER_RESET_SECONDS"] = 10.0
    _open_breaker(papp, sandbox, store_id, page)
    clock.advance(10.1)
    breaker = get_fetcher().breaker
    trial = breaker.admit()
    assert trial.trial
    assert get_fetcher().fetch(page).outcome is PollOutcome.CIRCUIT_OPEN  # another worker waits
    breaker.release(trial)


def test_the_scripts_read_the_keys_pybreaker_really_writes(papp: Flask) -> None:
    """The rate limiter's Lua and ``HostBreaker.admit`` read pybreaker's Redis keys by name, a
    private detail of pybreaker: drive pybreaker's own ``CircuitRedisStorage`` and check that the
    keys it writes are the ones read, with the values read. Fails when pybreaker renames them."""
    limiter = get_fetcher().limiter
    redis_client = limiter._redis
    namespace = "dhm-test:pybreaker-keys"
    ours = HostBreaker(redis_client, "keys.example", namespace=namespace, fail_max=2, reset_timeout=60,
                       clock=FakeClock().time)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis_client, namespace=namespace)
    theirs = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, state_storage=storage)

    def fail() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        theirs.call(fail)
    written = {key.decode() for key in redis_client.scan_iter(match=f"{namespace}:*")}
    assert {ours.state_key, ours.counter_key} <= written, written
    assert redis_client.mget(ours.state_key, ours.counter_key) == [b"closed", b"1"]
    assert ours.fail_counter == 1 and ours.state == "closed"
    slot, state, counter = limiter.reserve_gated(ours.state_key, ours.counter_key, pybreaker.STATE_CLOSED, 10)
    assert slot is not None and (state, counter) == (b"closed", b"1")

    with pytest.raises(pybreaker.CircuitBreakerError):
        theirs.call(fail)  # the second failure opens the circuit
    slot, state, counter = limiter.reserve_gated(ours.state_key, ours.counter_key, pybreaker.STATE_CLOSED, 10)
    assert slot is None and (state, counter) == (b"open", b"2")  # the gate is shut, no slot taken
    with pytest.raises(CircuitOpen):
        ours.admit()
