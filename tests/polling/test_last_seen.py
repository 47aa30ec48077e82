""""Last seen" without a write per product: a link the last poll saw was seen at that poll."""
from __future__ import annotations

from sqlalchemy import select

from extensions import db
from models import Monitor, MonitorProduct, Product
from services.polling import engine as polling


def product_page_time(client, monitor_id: int, product_id: int) -> str:  # noqa: ANN001
    page = client.get(f"/monitors/{monitor_id}/products/{product_id}").get_data(as_text=True)
    marker = page.index('<time datetime="', page.index("Last seen")) + len('<time datetime="')
    return page[marker:page.index('"', marker)]


def test_last_seen_follows_the_polls_that_saw_the_product(store_monitor, sandbox, store_id, auth, client) -> None:  # noqa: ANN001
    monitor_id = store_monitor.id
    polling.poll_monitor(monitor_id)
    staying, leaving = (p.item_code for p in sandbox.catalog.products(store_id)[:2])
    second = polling.poll_monitor(monitor_id)
    seen_at = db.session.get(Monitor, monitor_id).last_success_at
    assert seen_at is not None and second.outcome == "ok"
    sandbox.catalog.remove(leaving)
    polling.poll_monitor(monitor_id)
    last_poll = db.session.get(Monitor, monitor_id).last_success_at
    assert last_poll > seen_at

    def link(code: str) -> MonitorProduct:
        return db.session.scalar(select(MonitorProduct).join(Product).where(
            Product.item_code == code, MonitorProduct.monitor_id == monitor_id))

    assert (link(staying).present, link(staying).last_seen) == (True, last_poll)
    assert (link(leaving).present, link(leaving).last_seen) == (False, seen_at)
    auth.login()
    assert product_page_time(client, monitor_id, link(staying).product_id) == last_poll.isoformat()
    assert product_page_time(client, monitor_id, link(leaving).product_id) == seen_at.isoformat()
    # Seen again: present once more, last seen at the poll that saw it.
    sandbox.catalog.relist(leaving)
    polling.poll_monitor(monitor_id)
    back = db.session.get(Monitor, monitor_id).last_success_at
    assert (link(leaving).present, link(leaving).missing_polls, link(leaving).last_seen) == (True, 0, back)
