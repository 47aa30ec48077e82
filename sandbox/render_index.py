"""The sandbox's pages for people: an overview of the marketplace and placeholder images.

Someone running the demo opens the sandbox in a browser to see which stores exist, what state
they are in and which faults are on; product images must show without internet access.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from .render_common import TAB_LABELS, esc, store_tab_url


def render_index(summary: dict[str, Any], faults: dict[str, Any], base: str,
                 examples: Iterable[str]) -> str:
    """A small page for people: every store with links to its tabs, a search box, the state."""
    store_faults = faults.get("stores", {})
    rows = []
    for store in summary["stores"]:
        sid = store["store_id"]
        fault = store_faults.get(sid, {}).get("mode", "ok")
        tabs = " · ".join(
            f'<a href="{store_tab_url(base, tab, sid, 0)}">{words}</a>'
            for tab, (words, _, _) in TAB_LABELS.items()
        )
        rows.append(
            f"<tr><td>{sid}</td><td>{esc(store['name'])}</td><td>{store['listed']}</td>"
            f"<td>{store['out_of_stock']}</td><td>{store['delisted']}</td><td>{store['removed']}</td>"
            f"<td>{esc(fault)}</td><td>{tabs}</td></tr>"
        )
    site_fault = (faults.get("site") or {}).get("mode", "ok")
    search = f"{base}/wholesale/search.do?act=search&amp;pageNum=0&amp;searchkey="
    links = " ".join(f'<a href="{search}{esc(k)}">{esc(k)}</a>' for k in examples)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>DHgate sandbox marketplace</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}</style>
</head><body>
<h1>DHgate sandbox marketplace</h1>
<p>Seed {summary['seed']} · version {summary['version']} · step {summary['step']} · {summary['products_total']} products ·
site fault: <b>{esc(site_fault)}</b> · <a href="{base}/__sandbox__/state">state (JSON)</a></p>
<form action="{base}/wholesale/search.do" method="get"><input type="hidden" name="act" value="search"/>
<input name="searchkey" placeholder="led strip"/><input type="hidden" name="pageNum" value="0"/><button>Search</button></form>
<p>Try: {links}</p>
<table><thead><tr><th>store</th><th>name</th><th>listed</th><th>sold out</th><th>delisted</th><th>removed</th><th>fault</th><th>tabs</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
</body></html>
"""


def render_placeholder_svg(item_code: str) -> str:
    """A product image that needs no internet: a coloured tile with the item code."""
    hue = int(hashlib.md5(item_code.encode()).hexdigest()[:2], 16) * 360 // 256
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200" viewBox="0 0 200 200">'
            f'<rect width="200" height="200" fill="hsl({hue},55%,70%)"/>'
            f'<text x="100" y="108" font-family="sans-serif" font-size="20" text-anchor="middle">'
            f"{esc(item_code)}</text></svg>")
