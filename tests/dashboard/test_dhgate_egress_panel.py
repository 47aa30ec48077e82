"""The Platform page's DHgate panel per egress: each outbound proxy's own circuit, the cool-down
left while DHgate blocks it, and the share of its own request budget in use, read from the
Redis state the fetcher's egresses write."""
from __future__ import annotations

from flask import Flask

from models import User
from services.dhgate.breaker import Admission
from services.dhgate.fetcher import get_fetcher
from services.dhgate_panel import dhgate_panel
from tests.monitoring.conftest import browser_for

PROXIES = ("http://127.0.0.1:3128", "http://scout:hunter2@127.0.0.1:3129")


def test_without_proxies_the_direct_egress_is_the_hosts_own_state(app: Flask, admin: User) -> None:
    app.config.update(DHGATE_REQUESTS_PER_SECOND=0.01, DHGATE_RATE_BURST=4, DHGATE_BREAKER_FAILURES=2)
    fetcher = get_fetcher(app)
    assert fetcher.limiter.reserve(max_wait=1000).granted
    panel = dhgate_panel()
    [direct] = panel.egresses
    assert direct.name == "direct" and direct.state == "closed" and direct.cooldown_seconds is None
    assert 0.24 <= direct.budget_used <= 0.25 and 0.24 <= panel.hosts[0].budget_used <= 0.25  # same keys
    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    assert 'data-egress="direct"' in html and "direct (no proxy)" in html


def test_each_proxy_shows_its_own_breaker_cool_down_and_budget(app: Flask, admin: User) -> None:
    app.config.update(
        DHGATE_PROXIES=PROXIES, DHGATE_REQUESTS_PER_SECOND=0.01, DHGATE_RATE_BURST=4,
        DHGATE_BREAKER_FAILURES=3, DHGATE_BREAKER_RESET_SECONDS=600,
    )
    fetcher = get_fetcher(app)
    first, second = fetcher.egresses
    for _ in range(3):  # DHgate blocks the first proxy three times in a row: its circuit opens
        first.breaker.record(Admission(), success=False)
    for _ in range(3):  # the fetcher goes on through the second, which spends its own budget
        assert second.limiter.reserve(max_wait=1000).granted

    panel = dhgate_panel()
    assert [e.name for e in panel.egresses] == ["127.0.0.1:3128", "127.0.0.1:3129"]
    blocked, working = panel.egresses
    assert blocked.state == "open" and blocked.failures == 3 and blocked.budget_used == 0.0
    assert blocked.cooldown_seconds is not None and 590 <= blocked.cooldown_seconds <= 600
    assert working.state == "closed" and working.failures == 0 and working.cooldown_seconds is None
    assert 0.74 <= working.budget_used <= 0.75  # three of four burst slots (100 s apart) reserved
    assert [h.host for h in panel.hosts] == ["127.0.0.1:9"]  # the egresses' keys are not extra hosts

    html = browser_for(app, "root").get("/dashboard/platform").get_data(as_text=True)
    table = html[html.index('data-testid="dhgate-egresses"'):]
    table = table[:table.index("</table>")]
    blocked_row = table[table.index('data-egress="127.0.0.1:3128"'):table.index('data-egress="127.0.0.1:3129"')]
    working_row = table[table.index('data-egress="127.0.0.1:3129"'):]
    assert ">open<" in blocked_row and "minutes" in blocked_row and "left" in blocked_row
    assert ">closed<" in working_row and "75 %" in working_row and "—" in working_row
    assert "hunter2" not in html and "scout" not in html  # a proxy's credentials never reach a page


def test_the_panel_speaks_dutch(app: Flask, admin: User) -> None:
    app.config.update(DHGATE_PROXIES=PROXIES[:1], DHGATE_BREAKER_FAILURES=1)
    get_fetcher(app).egresses[0].breaker.record(Admission(), success=False)
    html = browser_for(app, "root").get("/dashboard/platform?lang=nl").get_data(as_text=True)
    assert "Afkoeltijd na blokkade" in html and "nog " in html
