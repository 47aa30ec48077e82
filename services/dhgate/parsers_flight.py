"""Read the page data a Next.js (app router) page streams in ``self.__next_f.push(...)`` calls.

DHgate's product page renders the price only as a loading skeleton; the real numbers travel
in the React "flight" stream that those script tags carry. The stream is a sequence of rows:

    <hex id>:<JSON>\\n          e.g.  4f:{"maxAndMinPriceVo":"$50","itemWholesaleRangeVos":"$51"}
    <hex id>:T<hex len>,<text>  a text row of <hex len> UTF-8 bytes (no newline needed after)
    <hex id>:<tag><payload>\\n   I (module), HL (hint), E (error), ... which we skip

Inside JSON rows, the string "$50" refers to row 50; "$$" escapes a literal "$". Only JSON
rows are kept, and they are decoded lazily because a page has many rows and we need few.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from selectolax.lexbor import LexborHTMLParser

_PUSH_PREFIX = "self.__next_f.push("
_ROW_ID = re.compile(rb"[0-9a-f]{1,8}")
_REFERENCE = re.compile(r"\$([0-9a-f]{1,8})")
_JSON_STARTS = frozenset(b'{["-0123456789tfn')
_MAX_DEPTH = 12


class FlightData:
    """The JSON rows of a page's flight stream, with "$id" references resolved on demand."""

    def __init__(self, rows: dict[str, bytes]) -> None:
        self._raw = rows
        self._decoded: dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def find(self, *keys: str) -> dict[str, Any] | None:
        """The first JSON object row that has all ``keys`` at its top level, resolved."""
        needles = [json.dumps(key).encode() for key in keys]
        for row_id, raw in self._raw.items():
            if raw[:1] == b"{" and all(needle in raw for needle in needles):
                value = self.resolve(self._row(row_id))
                if isinstance(value, dict) and all(key in value for key in keys):
                    return value
        return None

    def resolve(self, value: Any, depth: int = 0) -> Any:
        """``value`` with "$id" references to other rows replaced by those rows' values."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(value, str):
            return self._resolve_string(value, depth)
        if isinstance(value, list):
            return [self.resolve(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item, depth + 1) for key, item in value.items()}
        return value

    def _resolve_string(self, value: str, depth: int) -> Any:
        """Resolve "$id", unescape "$$", and leave other "$" markers ("$L1", "$undefined")."""
        if not value.startswith("$"):
            return value
        if value.startswith("$$"):
            return value[1:]
        match = _REFERENCE.fullmatch(value)
        if match and match.group(1) in self._raw:
            return self.resolve(self._row(match.group(1)), depth + 1)
        return None if value == "$undefined" else value

    def _row(self, row_id: str) -> Any:
        """A row's decoded JSON (cached); None when the row is not valid JSON."""
        if row_id not in self._decoded:
            try:
                self._decoded[row_id] = json.loads(self._raw[row_id])
            except ValueError:
                self._decoded[row_id] = None
        return self._decoded[row_id]


def flight_data(tree: LexborHTMLParser) -> FlightData:
    """The flight rows of a parsed page (empty when the page has none)."""
    stream = "".join(_pushed_strings(tree))
    return FlightData(dict(_json_rows(stream.encode("utf-8"))))


def _pushed_strings(tree: LexborHTMLParser) -> Iterator[str]:
    """The string payloads of ``self.__next_f.push([1, "..."])`` calls, in page order."""
    for script in tree.css("script"):
        text = script.text(deep=True)
        if not text.startswith(_PUSH_PREFIX):
            continue
        argument = text[len(_PUSH_PREFIX) :].rstrip().rstrip(";").rstrip()
        if not argument.endswith(")"):
            continue
        try:
            payload = json.loads(argument[:-1])
        except ValueError:
            continue
        if _is_data_push(payload):
            yield payload[1]


def _is_data_push(payload: object) -> bool:
    """``[1, "<rows>"]`` carries stream data; ``[0]`` and ``[2, ...]`` are bootstrap calls."""
    return (
        isinstance(payload, list)
        and len(payload) == 2
        and payload[0] == 1
        and isinstance(payload[1], str)
    )


def _json_rows(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(row id, raw JSON bytes) for each JSON row of a flight stream."""
    position, end = 0, len(data)
    while position < end:
        colon = data.find(b":", position, position + 10)
        row_id = data[position:colon] if colon > 0 else b""
        if not _ROW_ID.fullmatch(row_id):
            position = _next_line(data, position)
            continue
        start = colon + 1
        if data[start : start + 1] == b"T":
            position = _skip_text_row(data, start + 1)
            continue
        stop = data.find(b"\n", start)
        stop = end if stop < 0 else stop
        if start < stop and data[start] in _JSON_STARTS:
            yield row_id.decode("ascii"), data[start:stop]
        position = stop + 1


def _skip_text_row(data: bytes, start: int) -> int:
    """Position after a "T<hex len>,<text>" row, or after the line if the length is bad."""
    comma = data.find(b",", start, start + 10)
    try:
        length = int(data[start:comma], 16) if comma > 0 else -1
    except ValueError:
        length = -1
    if length < 0:
        return _next_line(data, start)
    return comma + 1 + length


def _next_line(data: bytes, position: int) -> int:
    """Resynchronise on the next line after something that is not a row."""
    newline = data.find(b"\n", position)
    return len(data) if newline < 0 else newline + 1
