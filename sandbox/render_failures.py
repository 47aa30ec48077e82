"""What the sandbox answers instead of a page when a fault is switched on.

Each body is shaped like what DHgate, its CDN or its bot protection really send (captured
samples), because the fetcher tells a block from a challenge from a rate limit by these bodies
and headers: a CDN "Access Denied", a "Just a moment..." interstitial, a bare 429 or 5xx page,
and junk for garbled answers. None of them carries anything a parser could mistake for products.
"""
from __future__ import annotations

import random

from .render_common import esc


def _entity_url(url: str) -> str:
    """The URL written with character references, as the CDN's page writes it."""
    return "".join(f"&#{ord(ch)};" if ch in ":/." else esc(ch) for ch in url)


def render_access_denied(url: str, reference: str) -> str:
    """The CDN's "Access Denied" answer (same shape as the captured sample)."""
    ref = _entity_url(reference)
    return f"""<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>

You don't have permission to access "{_entity_url(url)}" on this server.<P>
Reference&#32;&#35;{ref}
<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;{ref}</P>
</BODY>
</HTML>
"""


def render_challenge(ray_id: str) -> str:
    """A bot-check interstitial ("Just a moment...") that needs JavaScript and cookies."""
    return f"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">
</head><body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">www.dhgate.com</h1>
<h2 id="challenge-running" class="h2">Checking if the site connection is secure</h2>
<noscript><div id="challenge-error-title">Enable JavaScript and cookies to continue</div></noscript>
<div id="challenge-body-text" class="core-msg spacer">www.dhgate.com needs to review the security of your connection before proceeding.</div>
</div></div>
<script>(function(){{window._cf_chl_opt={{cvId: '3',cRay: '{ray_id}',cType: 'managed'}};}}());</script>
<div class="footer" role="contentinfo"><div class="footer-inner">Ray ID: <code>{ray_id}</code></div></div>
</body></html>
"""


def render_rate_limited(retry_after: int) -> str:
    """What a 429 carries: says nothing about products."""
    return (f"<html><head><title>429 Too Many Requests</title></head><body><h1>Too Many Requests</h1>"
            f"<p>Please retry after {retry_after} seconds.</p></body></html>\n")


def render_http_error(status: int, title: str, message: str) -> str:
    """A bare error page (upstream errors, unknown paths)."""
    return (f"<html><head><title>{status} {esc(title)}</title></head><body>"
            f"<h1>{esc(title)}</h1><p>{esc(message)}</p></body></html>\n")


def render_server_error(status: int) -> str:
    """What a 5xx from the origin or CDN carries."""
    return render_http_error(status, "Service Unavailable",
                             "The server is temporarily unable to service your request.")


def render_garbled(rng: random.Random, style: str) -> bytes:
    """Junk in place of a page: random bytes, or broken markup without any product data."""
    if style == "bytes":
        return rng.randbytes(2048)
    junk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz<>/=\"' {};:0123456789\ufffd") for _ in range(1500))
    return (f"<html><head><title>DHgate</title></head><body><div class=\"mainout\"><div cla{junk}"
            f"\x00\x1b<d iv ></sc ript>{junk[::-1]}</body></html>\n").encode("utf-8", "replace")
