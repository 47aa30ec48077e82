"""``/go/<token>``: a 302 to the product on DHgate with our affiliate parameters, counted once per
visitor and link within the window, never for bots, HEAD or prefetch, never to a foreign host."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from extensions import db, get_redis
from jobs.affiliate import flush_affiliate_clicks
from models import AffiliateClick, Monitor, Product, User
from services import affiliate_clicks
from services.affiliate_links import forget_targets, make_token, read_token
from tests.affiliate.conftest import BROWSER

HUMAN = {"User-Agent": BROWSER, "Referer": "http://127.0.0.1/monitors/1/products/1"}


def _clicks() -> list[AffiliateClick]:
    db.session.rollback()
    return list(db.session.query(AffiliateClick).order_by(AffiliateClick.id))


def test_the_redirect_sends_to_dhgate_with_our_parameters_and_records_the_click(
    app: Flask, client: FlaskClient, link: str, member: User, shop: Monitor, product: Product
) -> None:
    response = client.get(link, headers=HUMAN, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == app.config["DHGATE_BASE_URL"]
    assert target.path == "/product/glow-lamp/77.html"
    params = parse_qs(target.query)
    assert params["utm_campaign"] == ["page"] and len(params["subid"][0]) == 32
    assert response.headers["Cache-Control"] == "no-store"
    assert _clicks() == []  # counted in Redis only, until the flush
    assert flush_affiliate_clicks()["clicks"] == 1
    [click] = _clicks()
    assert (click.user_id, click.product_id, click.monitor_id, click.source) == (member.id, product.id, shop.id, "page")
    assert click.click_ref == params["subid"][0]
    assert click.user_agent == BROWSER and click.referrer == HUMAN["Referer"]
    assert click.ip_hash and len(click.ip_hash) == 64 and "203.0.113.9" not in click.ip_hash
    assert click.ip_hash == affiliate_clicks.ip_hash("203.0.113.9")


def test_the_affiliate_id_and_template_come_from_the_settings(app: Flask, client: FlaskClient, link: str) -> None:
    app.config["AFFILIATE_ID"] = "dhm 42"
    app.config["AFFILIATE_URL_PARAMS"] = "aff={affiliate_id}&ref={click_ref}&{unknown}"
    location = client.get(link, headers=HUMAN).headers["Location"]
    query = urlsplit(location).query
    assert query.startswith("aff=dhm%2042&ref=") and query.endswith("&%7Bunknown%7D")  # left as written (the Location header quotes it)


def test_product_pages_link_through_the_redirect(client: FlaskClient, auth, member, shop, product) -> None:  # noqa: ANN001
    auth.login("mira")
    page = client.get(f"/monitors/{shop.id}/products/{product.id}").get_data(as_text=True)
    assert 'href="/go/' in page and "glow-lamp/77.html" not in page
    detail = client.get(f"/monitors/{shop.id}").get_data(as_text=True)
    assert 'href="/go/' in detail


@pytest.mark.parametrize("token", [
    "garbage",
    "WzEsMiwzLCJwIl0.c2lnbmF0dXJl",  # a payload with a made-up signature
    "x" * 500,
])
def test_forged_or_malformed_tokens_get_a_clear_400(client: FlaskClient, token: str) -> None:
    response = client.get(f"/go/{token}", headers=HUMAN)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "This link is broken" in response.get_data(as_text=True)


def test_a_tampered_token_is_refused(client: FlaskClient, link: str) -> None:
    token = link.removeprefix("/go/")
    payload, signature = token.rsplit(".", 1)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    for bad in (f"{flipped}.{signature}", f"{payload}.{signature[:-2]}", payload):
        response = client.get(f"/go/{bad}", headers=HUMAN)
        assert response.status_code == 400 and "Location" not in response.headers


def test_a_token_signed_for_something_else_is_refused(app: Flask, client: FlaskClient, member, shop, product) -> None:  # noqa: ANN001
    from itsdangerous import URLSafeSerializer

    other = URLSafeSerializer(app.config["SECRET_KEY"], salt="another-purpose").dumps([member.id, product.id, shop.id, "p"])
    assert client.get(f"/go/{other}", headers=HUMAN).status_code == 400
    shapeless = URLSafeSerializer(app.config["SECRET_KEY"], salt="affiliate-link").dumps({"u": member.id})
    assert client.get(f"/go/{shapeless}", headers=HUMAN).status_code == 400


def test_foreign_hosts_are_never_a_target(client: FlaskClient, member, shop, product) -> None:  # noqa: ANN001
    for url in ("https://evil.example/product/x/77.html", "https://dhgate.com.evil.example/p.html",
                "https://user@dhgate.com.evil.example/", "javascript:alert(1)//dhgate.com"):
        product.url = url
        db.session.commit()
        forget_targets()  # each process remembers a link's target for a minute
        response = client.get(f"/go/{make_token(member.id, product.id, shop.id)}", headers=HUMAN)
        if url.startswith("javascript:"):  # not http(s): falls back to DHgate's home page
            assert response.status_code == 302
            continue
        assert response.status_code == 400 and "Location" not in response.headers, url
        assert "does not lead to a DHgate page" in response.get_data(as_text=True)
    product.url = "https://www.dhgate.com/product/x/77.html"
    db.session.commit()
    forget_targets()
    response = client.get(f"/go/{make_token(member.id, product.id, shop.id)}", headers=HUMAN)
    assert response.headers["Location"].startswith("https://www.dhgate.com/product/x/77.html?")


def test_a_monitor_link_goes_to_the_watched_page(client: FlaskClient, app: Flask, member, shop) -> None:  # noqa: ANN001
    response = client.get(f"/go/{make_token(member.id, None, shop.id)}", headers=HUMAN)
    assert response.headers["Location"].startswith(app.config["DHGATE_BASE_URL"] + shop.url + "?")


@pytest.mark.parametrize("headers", [
    {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"},
    {"User-Agent": "TelegramBot (like TwitterBot)"},
    {"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
    {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"},
    {"User-Agent": "WhatsApp/2.23.20.0"},
    {"User-Agent": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"},
    {"User-Agent": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"},  # ua-parser's spider
    {"User-Agent": ""},
    {"User-Agent": BROWSER, "Sec-Purpose": "prefetch;prerender"},
    {"User-Agent": BROWSER, "Purpose": "prefetch"},
])
def test_bots_and_prefetches_are_redirected_but_not_counted(client: FlaskClient, link: str, headers) -> None:  # noqa: ANN001
    response = client.get(link, headers=headers)
    assert response.status_code == 302
    flush_affiliate_clicks()
    assert _clicks() == []


def test_head_requests_are_not_counted(client: FlaskClient, link: str) -> None:
    assert client.head(link, headers=HUMAN).status_code == 302
    flush_affiliate_clicks()
    assert _clicks() == []


def test_a_repeat_within_the_window_counts_once_other_visitors_and_links_count(
    app: Flask, client: FlaskClient, link: str, member, shop, product  # noqa: ANN001
) -> None:
    for _ in range(3):
        client.get(link, headers=HUMAN, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    client.get(link, headers=HUMAN, environ_base={"REMOTE_ADDR": "198.51.100.2"})  # another visitor
    email_link = f"/go/{make_token(member.id, product.id, shop.id, 'email')}"
    client.get(email_link, headers=HUMAN, environ_base={"REMOTE_ADDR": "198.51.100.1"})  # another link
    flush_affiliate_clicks()
    assert sorted(c.source for c in _clicks()) == ["email", "page", "page"]
    # The window is the setting's: the visitor's marker expires after it (not later, not never).
    prefix = app.config["REDIS_KEY_PREFIX"]
    seen = list(get_redis().scan_iter(f"{prefix}aff:clicks:seen:*"))
    assert len(seen) == 3
    assert all(0 < get_redis().pttl(key) <= app.config["AFFILIATE_CLICK_DEDUPE_SECONDS"] * 1000 for key in seen)
    for key in seen:  # the window has passed
        get_redis().delete(key)
    client.get(link, headers=HUMAN, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    flush_affiliate_clicks()
    assert len(_clicks()) == 4


def test_tokens_name_member_product_monitor_and_source(app: Flask) -> None:
    link = read_token(make_token(5, 6, 7, "chat"))
    assert (link.member_id, link.product_id, link.monitor_id, link.source) == (5, 6, 7, "chat")
    with pytest.raises(ValueError, match="unknown link source"):
        make_token(5, 6, 7, "pigeon")


def test_redis_down_still_redirects(stores, app: Flask, link: str) -> None:  # noqa: ANN001
    from tests.conftest import make_app

    broken = make_app(stores, REDIS_URL="redis://127.0.0.1:1/0")
    with broken.app_context():
        response = broken.test_client().get(link, headers=HUMAN)
    assert response.status_code == 302


def test_a_followed_link_needs_no_query_the_second_time(client: FlaskClient, link: str, product) -> None:  # noqa: ANN001
    """The redirect is the hottest path: a link's target and the link settings are remembered
    per process, so following it again costs no SQL (only the click's Redis call)."""
    statements: list[str] = []

    def listener(*args: object) -> None:
        statements.append(str(args[2]))

    assert client.get(link, headers=HUMAN).status_code == 302
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        again = client.get(link, headers=HUMAN)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert again.status_code == 302 and "/product/glow-lamp/77.html" in again.headers["Location"]
    assert statements == []
