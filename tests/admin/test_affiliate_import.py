"""The conversion report upload: admins only; a preview of the first rows with the columns
recognised; a chosen mapping imports; line errors shown and nothing written; an expired upload."""
from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from extensions import db
from models import AffiliateConversion
from tests.admin.conftest import post
from tests.conftest import csrf_token_from

REPORT = ("Order No,Sale Amount,Placed,Network status,Notes\n"
          "N1,12.50,2026-11-02,confirmed,first\n"
          "N2,30.00,2026-11-03,pending,second\n")


def _upload(client: FlaskClient, content: bytes, name: str = "report.csv"):  # noqa: ANN202
    token = csrf_token_from(client.get("/admin/affiliate/import").get_data(as_text=True))
    return client.post("/admin/affiliate/import", content_type="multipart/form-data",
                       data={"csrf_token": token, "report": (io.BytesIO(content), name)})


def test_members_cannot_open_the_upload(client: FlaskClient, auth, alice) -> None:  # noqa: ANN001
    auth.login("alice")
    assert client.get("/admin/affiliate/import").status_code == 403


def test_upload_preview_mapping_and_import(app: Flask, admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/affiliate/import").get_data(as_text=True)
    assert 'type="file"' in page and "Import conversions" in page
    response = _upload(admin_client, REPORT.encode("utf-8-sig"))
    assert response.status_code == 302
    mapping_path = response.headers["Location"]
    preview = admin_client.get(mapping_path).get_data(as_text=True)
    table = preview[preview.index('data-testid="import-preview"'):]
    assert "<th scope=\"col\">Order No</th>" in table and "<td>N2</td>" in table
    assert '<option value="order_value" selected>' in table  # "Sale Amount" is a known alias

    done = post(admin_client, mapping_path, {"column-0": "order_id", "column-1": "order_value",
                                             "column-2": "ordered_at", "column-3": "status", "column-4": ""})
    assert done.status_code == 302 and "/affiliate/" in done.headers["Location"]
    orders = {order.order_id: order.status for order in db.session.scalars(select(AffiliateConversion))}
    assert orders == {"N1": "confirmed", "N2": "pending"}
    assert admin_client.get(mapping_path).status_code == 302  # the upload is gone after the import


def test_line_errors_are_shown_and_nothing_is_imported(app: Flask, admin_client: FlaskClient) -> None:
    response = _upload(admin_client, (REPORT + "N3,lots,2026-11-03,pending,third\n").encode())
    mapping_path = response.headers["Location"]
    fields = {"column-0": "order_id", "column-1": "order_value", "column-2": "ordered_at", "column-3": "status"}
    failed = post(admin_client, mapping_path, fields)
    assert failed.status_code == 400
    page = failed.get_data(as_text=True)
    assert "line 4: the order value must be a number, got &#39;lots&#39;" in page
    assert db.session.scalars(select(AffiliateConversion)).all() == []
    twice = post(admin_client, mapping_path, {**fields, "column-4": "order_id"})
    assert twice.status_code == 400 and "order_id is chosen for more than one column" in twice.get_data(as_text=True)
    ignored = post(admin_client, mapping_path, {**fields, "column-1": ""})  # "ignore" wins over the alias
    assert "no column for order_value" in ignored.get_data(as_text=True)


def test_bad_files_and_expired_uploads_get_a_clear_message(app: Flask, admin_client: FlaskClient) -> None:
    assert "is not UTF-8 text" in _upload(admin_client, "Bestellung,Wert\nä,1\n".encode("latin-1")).get_data(as_text=True)
    assert "the file is empty" in _upload(admin_client, b"").get_data(as_text=True)
    expired = admin_client.get("/admin/affiliate/import/AAAAAAAAAAAAAAAAAAAAAAAA", follow_redirects=True)
    assert "That upload has expired" in expired.get_data(as_text=True)


def test_the_upload_page_in_dutch(app: Flask, admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/affiliate/import", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "Conversies importeren" in page and "Conversierapport" in page
