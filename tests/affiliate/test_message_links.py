"""Product links in alert messages are tracked: an e-mail delivered to a real SMTP server and a
chat message posted to a real endpoint link to ``/go/<token>`` with their own source, and the
link redirects to the DHgate (sandbox) product with the affiliate parameters."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from extensions import db
from models import AffiliateClick, User
from sandbox import SandboxServer
from services.affiliate_clicks import flush_clicks
from services.affiliate_links import read_token
from services.notifications import channels as channel_service
from services.notifications.sending import deliver_notification
from tests.affiliate.conftest import BROWSER
from tests.notifications.conftest import Endpoint, Inbox, endpoint, napp, smtp  # noqa: F401 (fixtures)
from tests.notifications.test_delivery import alert_after_changes

GO_LINK = re.compile(r"http://monitor\.test(/go/[A-Za-z0-9_.\-]+)")


def _follow(client: FlaskClient, path: str, sandbox: SandboxServer) -> dict[str, list[str]]:
    response = client.get(path, headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(sandbox.base_url + "/")
    return parse_qs(urlsplit(location).query)


def test_an_emailed_product_link_is_a_tracked_email_link(
    napp: Flask, sandbox: SandboxServer, smtp: tuple[Inbox, int], alice: User, client: FlaskClient,  # noqa: F811
) -> None:
    napp.config["AFFILIATE_ID"] = "dhm-7"
    channel_service.add_email_channel(alice)
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    assert deliver_notification(note.id).get("sent") == 1
    [(_to, mail)] = smtp[0].messages
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    [path] = GO_LINK.findall(html)
    assert GO_LINK.findall(text) == [path]  # the plain part carries the same link
    link = read_token(path.removeprefix("/go/"))
    assert (link.member_id, link.source) == (alice.id, "email") and link.product_id is not None
    query = _follow(client, path, sandbox)
    assert query["affiliate_id"] == ["dhm-7"] and query["utm_campaign"] == ["email"]
    assert flush_clicks().clicks == 1
    click = db.session.scalars(select(AffiliateClick)).one()
    assert (click.user_id, click.product_id, click.source, click.click_ref) == (
        alice.id, link.product_id, "email", query["subid"][0])


def test_a_chat_alert_links_through_go_with_source_chat(
    napp: Flask, sandbox: SandboxServer, endpoint: Endpoint, alice: User, client: FlaskClient,  # noqa: F811
) -> None:
    channel_service.add_apprise_channel(alice.id, endpoint.url, "team chat")
    note = alert_after_changes(alice, sandbox, drops=1, new=0)
    assert deliver_notification(note.id).get("sent") == 1
    [payload] = endpoint.received
    [path] = GO_LINK.findall(payload["message"])
    assert read_token(path.removeprefix("/go/")).source == "chat"
    assert _follow(client, path, sandbox)["utm_campaign"] == ["chat"]
