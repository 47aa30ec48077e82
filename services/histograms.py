"""Fixed-bucket latency histograms: how request timings stay mergeable.

Every process, every Redis buffer and every ``request_metrics`` row counts samples in the same
fixed buckets, so merging two histograms is adding counts: exact, in any order, any number of
times (minute rows into hour rows, many processes into one minute). Percentiles are then read
from the merged counts, interpolated inside a bucket and clamped to the observed min/max.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping

# Upper bounds in milliseconds; the last bucket (index len(BOUNDS_MS)) is "+Inf".
BOUNDS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 25, 50, 75, 100, 150, 250, 400, 600, 1000, 1500, 2500, 5000, 10000, 30000,
)
INF_LABEL = "+Inf"
BUCKET_COUNT = len(BOUNDS_MS) + 1


def bucket_index(value_ms: float) -> int:
    """The bucket a sample falls in: the first bound >= value (Prometheus' ``le`` semantics)."""
    return bisect_left(BOUNDS_MS, value_ms)


def label_of(index: int) -> str:
    """The JSON key of bucket ``index``: its upper bound ("25") or "+Inf"."""
    if index >= len(BOUNDS_MS):
        return INF_LABEL
    bound = BOUNDS_MS[index]
    return str(int(bound)) if float(bound).is_integer() else str(bound)


_INDEX_OF_LABEL = {label_of(i): i for i in range(BUCKET_COUNT)}


def index_of_label(label: str) -> int:
    """Inverse of ``label_of``; an unknown label is a ``ValueError`` (it would skew every merge)."""
    try:
        return _INDEX_OF_LABEL[label]
    except KeyError:
        raise ValueError(f"unknown histogram bucket {label!r}") from None


def to_json(counts: Iterable[int]) -> dict[str, int]:
    """Sparse JSON form: ``{"25": 3, "+Inf": 1}``; empty buckets are left out."""
    return {label_of(i): int(c) for i, c in enumerate(counts) if c}


def from_json(data: Mapping[str, int] | None) -> list[int]:
    """Dense counts from the sparse JSON form (``None`` is an empty histogram)."""
    counts = [0] * BUCKET_COUNT
    for label, count in (data or {}).items():
        counts[index_of_label(label)] += int(count)
    return counts


def merge(*histograms: Iterable[int]) -> list[int]:
    """Bucket-wise sum of dense histograms."""
    total = [0] * BUCKET_COUNT
    for histogram in histograms:
        for index, count in enumerate(histogram):
            total[index] += count
    return total


def percentile(counts: list[int], q: float, *, minimum: float | None = None, maximum: float | None = None) -> float | None:
    """The ``q`` quantile (0..1) of a dense histogram, or ``None`` when it holds no samples.

    Linear interpolation inside the bucket that holds the rank; the lowest bucket starts at the
    observed minimum (or 0) and "+Inf" ends at the observed maximum, and the answer is clamped to
    [minimum, maximum] so a single sample reports its own value rather than a bucket edge.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count == 0:
            continue
        if seen + count >= rank:
            lower = float(BOUNDS_MS[index - 1]) if index > 0 else 0.0
            upper = float(BOUNDS_MS[index]) if index < len(BOUNDS_MS) else (maximum if maximum is not None else lower)
            if minimum is not None:
                lower = max(lower, minimum)
            if maximum is not None:
                upper = min(upper, maximum)
            upper = max(upper, lower)
            value = lower + (upper - lower) * ((rank - seen) / count)
            break
        seen += count
    else:  # pragma: no cover - rank <= total always lands in a bucket
        value = maximum or 0.0
    if minimum is not None:
        value = max(value, minimum)
    if maximum is not None:
        value = min(value, maximum)
    return float(value)


def cumulative(counts: list[int]) -> list[tuple[str, int]]:
    """``(upper bound in seconds as text, cumulative count)`` pairs for Prometheus' ``le``."""
    pairs: list[tuple[str, int]] = []
    running = 0
    for index, count in enumerate(counts):
        running += count
        le = INF_LABEL if index >= len(BOUNDS_MS) else repr(BOUNDS_MS[index] / 1000.0)
        pairs.append((le, running))
    return pairs
