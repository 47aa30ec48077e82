"""Exactly which commands reach Redis: a new connection's handshake and a poll's own requests.

Counted where redis-py sends them (``send_packed_command``: a command, a pipeline or a script
call is one round trip). ``bench/bench_scale.py`` counts the same way with the job system
around the polls; these are the parts that do not depend on how RQ and the threads interleave.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection

from extensions import get_redis, redis_client
from services.polling import engine as polling


@contextmanager
def commands_sent() -> Iterator[list[str]]:
    """The name of every command redis-py sends meanwhile (any client, any connection)."""
    sent: list[str] = []
    original: Callable[..., Any] = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        packed = b"".join(bytes(part) for part in command) if isinstance(command, list | tuple) else bytes(command)
        sent.append(packed.split(b"\r\n")[2].decode().upper())
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def test_a_new_connection_costs_hello_and_select_only(stores) -> None:  # noqa: ANN001
    """No ``CLIENT SETINFO`` (twice), no ``CLIENT MAINT_NOTIFICATIONS`` and no health-check
    ``PING`` on a socket that has just connected; later commands go out alone."""
    client = redis_client(stores.redis_url, health_check_interval=30)
    selects = ["SELECT"] if client.connection_pool.connection_kwargs.get("db") else []
    try:
        with commands_sent() as sent:
            client.get("dhm:test:handshake")
            client.get("dhm:test:handshake")
        assert sent == ["HELLO", *selects, "GET", "GET"]
    finally:
        client.close()


def test_a_poll_asks_redis_once_per_page(store_monitor, sandbox, store_id) -> None:  # noqa: ANN001
    """A poll of a two-page store, with the budget not binding and its connections open: one
    script per page (the rate-limit slot and the breaker's state together), nothing else; the
    same for a poll whose prices changed, plus the owner's live-badge version bumped once after
    the commit (its alert has no channel to go to: no delivery job)."""
    polling.poll_monitor(store_monitor.id)  # opens the connection the pool then keeps
    get_redis().ping()
    with commands_sent() as sent:
        run = polling.poll_monitor(store_monitor.id)
    assert run.pages == 2
    assert sent == ["EVALSHA", "EVALSHA"]
    product = sandbox.catalog.products(store_id)[1]
    sandbox.catalog.set_price(product.item_code, "1.00")
    with commands_sent() as sent:
        polling.poll_monitor(store_monitor.id)
    assert sent == ["EVALSHA", "EVALSHA", "EVALSHA"]  # two pages' budget, then the live badge's bump
