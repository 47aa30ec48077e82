"""How much the store parser costs on top of merely parsing the HTML.

Times ``parse_store_page`` against a bare selectolax parse plus the card query
(``css('#proGallery .gitem')``) on the same 24-card store page, interleaved round by round
so that the noise of a shared machine hits both alike, and prints both medians and their
ratio. The goal is a ratio of at most 3: extracting the products should cost no more than
twice the parse itself.

The page is the real sample from ``../shared/dhgate-samples`` when present, else a 24-card
page built from the project's own store fixture.

    python bench/bench_parser.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = PROJECT_ROOT.parent / "shared" / "dhgate-samples" / "store-top-selling-21880856.html"
FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "dhgate" / "store-page-1.html"
CARDS = 24
GOAL_RATIO = 3.0
# The fixture closes each card with this comment so that cards can be cut out and repeated.
_CARD = re.compile(r'<div index="\d+" class="gitem.*?<!-- /gitem -->', re.DOTALL)


def load_page(use_fixture: bool = False) -> tuple[str, str]:
    """(html, where it came from): the real sample, else the fixture grown to 24 cards."""
    if SAMPLE.exists() and not use_fixture:
        return SAMPLE.read_text(encoding="utf-8"), str(SAMPLE)
    html = FIXTURE.read_text(encoding="utf-8")
    cards = _CARD.findall(html)
    if not cards:
        raise SystemExit(f"no product cards found in {FIXTURE}")
    grown = "\n".join(cards[index % len(cards)] for index in range(CARDS))
    start, end = html.index(cards[0]), html.index(cards[-1]) + len(cards[-1])
    return html[:start] + grown + html[end:], f"{FIXTURE} grown to {CARDS} cards"


def bare_parser() -> tuple[Callable[[str], object], str]:
    """The bare parse: selectolax's classic HTMLParser when it still exists, else lexbor.

    selectolax 1.0 removed the Modest backend behind ``selectolax.parser``; its lexbor
    backend is what the parsers use, so it is the fair baseline then.
    """
    try:
        from selectolax.parser import HTMLParser  # type: ignore[attr-defined]  # noqa: PLC0415

        name = "selectolax.parser.HTMLParser"
    except ImportError:
        from selectolax.lexbor import LexborHTMLParser as HTMLParser  # noqa: PLC0415

        name = "selectolax.lexbor.LexborHTMLParser"

    def parse_and_query(html: str) -> object:
        return HTMLParser(html).css("#proGallery .gitem")

    return parse_and_query, name


def time_once(function: Callable[[str], object], html: str) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    function(html)
    return time.perf_counter() - start


def run(rounds: int, use_fixture: bool = False) -> int:
    """Interleave both measurements for ``rounds`` rounds and print the comparison."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from bench.results import Check, emit  # noqa: PLC0415 - needs sys.path
    from services.dhgate.parsers import parse_store_page  # noqa: PLC0415 - needs sys.path

    html, source = load_page(use_fixture)
    bare, bare_name = bare_parser()
    page = parse_store_page(html)
    if len(page.products) != CARDS:
        raise SystemExit(f"expected {CARDS} products, parsed {len(page.products)}")
    for _ in range(20):  # warm caches and the allocator before measuring
        bare(html)
        parse_store_page(html)
    ours: list[float] = []
    baseline: list[float] = []
    for round_number in range(rounds):
        if round_number % 2:
            baseline.append(time_once(bare, html))
            ours.append(time_once(parse_store_page, html))
        else:
            ours.append(time_once(parse_store_page, html))
            baseline.append(time_once(bare, html))
    ours_ms = statistics.median(ours) * 1000
    bare_ms = statistics.median(baseline) * 1000
    ratio = ours_ms / bare_ms
    verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
    print(f"command:  {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"page:     {source} ({len(html):,} chars, {CARDS} cards)")
    print(f"rounds:   {rounds} (interleaved)")
    print(f"bare:     {bare_ms:.3f} ms median  ({bare_name} + css('#proGallery .gitem'))")
    print(f"ours:     {ours_ms:.3f} ms median  (parse_store_page)")
    print(f"ratio:    {ratio:.2f}x  ({verdict} the goal of <= {GOAL_RATIO:.0f}x)")
    check = Check("parse_store_page / bare parse (time)", ratio, "<=", GOAL_RATIO)
    emit("parser", [check])
    return 0 if check.passed else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=300, help="measured rounds (default 300)")
    parser.add_argument(
        "--fixture", action="store_true", help="use the project's fixture even if the sample exists"
    )
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    return run(arguments.rounds, arguments.fixture)


if __name__ == "__main__":
    raise SystemExit(main())
