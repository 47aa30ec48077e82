"""Per-minute buffers in Redis, claimed one at a time by whoever moves them into the database.

Request metrics (``services.metrics_flush``) and affiliate clicks (``services.affiliate_clicks``)
are both counted cheaply in a Redis buffer per minute and moved into the database by a job. The
claim is the part they share: one script renames a minute's buffer to a processing key of this
flusher's own (so two flushers never take the same buffer), records the claim in an index and
drops the minute from the list of open buffers. What each then does with its processing key (and
how it makes the database write exactly-once) stays with its own module.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

CLAIM_SCRIPT = """
local buffer, processing, buffers, claimed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', buffer) == 1 then
  redis.call('RENAME', buffer, processing)
  redis.call('ZADD', claimed, ARGV[2], ARGV[3])
  redis.call('ZREM', buffers, ARGV[1])
  return 1
end
redis.call('ZREM', buffers, ARGV[1])
return 0
"""


@dataclass(frozen=True)
class MinuteBuffers:
    """The key names of one family of minute buffers."""

    buffer: Callable[[int], str]  # a minute's open buffer
    processing: Callable[[str], str]  # a claimed buffer, by flush id
    index: str  # sorted set of minutes with an open buffer
    processing_index: str  # sorted set of claimed flush ids, scored by claim time


def claim_buffers(connection: Any, buffers: MinuteBuffers) -> int:
    """Claim every open buffer (each under a new flush id); returns how many were claimed."""
    script = connection.register_script(CLAIM_SCRIPT)
    claimed = 0
    # Without scores the reply is the members alone; the client's types cannot tell that apart.
    for raw_minute in cast("list[bytes | str]", connection.zrange(buffers.index, 0, -1)):
        minute = int(raw_minute)
        flush_id = f"{minute}-{uuid.uuid4().hex[:16]}"
        keys = [buffers.buffer(minute), buffers.processing(flush_id), buffers.index, buffers.processing_index]
        claimed += int(script(keys=keys, args=[minute, time.time(), flush_id]))
    return claimed


@dataclass
class FlushHooks:
    """Fault-injection points of a flush: called with the flush id just before / just after
    its commit (the tests kill or fail a flush there)."""

    before_commit: Callable[[str], None] | None = None
    after_commit: Callable[[str], None] | None = None


def processing_ids(connection: Any, index_key: str) -> list[str]:
    """The flush ids waiting in a processing index, oldest first: claimed buffers this flush and
    any crashed earlier one have to finish."""
    return [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in connection.zrange(index_key, 0, -1)]
