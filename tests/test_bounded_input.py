"""Numbers from the URL never reach the database out of range: a 404 or 400, never a 500.

Generated from the app's URL map (every rule with an integer part, every method it answers) and
from the table of integer query parameters below, which a last test keeps complete by reading
the routes' source. Runs on SQLite and PostgreSQL alike (the suite's stores): the two fail in
different ways on numbers past BIGINT, ``OverflowError`` on one and "out of range" on the other.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule

from models import User
from tests.conftest import AuthActions, csrf_token_from
from tests.factories import make_monitor
from web.params import BIGINT_MAX, INTEGER_MAX, MAX_PAGE, page_arg

PROJECT = Path(__file__).resolve().parent.parent

# The largest id an INTEGER and a BIGINT column can hold, the numbers after them, and two far past
# (the last one longer than Python converts to int without complaint).
HUGE_PATH_VALUES = [
    str(INTEGER_MAX), str(INTEGER_MAX + 1), str(BIGINT_MAX), str(BIGINT_MAX + 1), "1" + "0" * 40, "9" * 5000,
]


def _bare_app() -> Flask:
    """An app built only to read its URL map or parse a request: no store is ever contacted."""
    from tests.conftest import Stores, make_app

    with tempfile.TemporaryDirectory() as instance:
        return make_app(
            Stores(database_url="sqlite://", redis_url="redis://127.0.0.1:9/0", instance_path=instance),
            METRICS_ENABLED=False,
        )


def _integer_rules() -> list[Rule]:
    """The app's rules with at least one integer part."""
    app = _bare_app()
    rules = [
        rule for rule in app.url_map.iter_rules()
        if any(isinstance(conv, IntegerConverter) for conv in rule._converters.values())
    ]
    return sorted(rules, key=lambda rule: rule.rule)


def _path_cases() -> list[tuple[str, str, str, str, frozenset[str]]]:
    """(rule, method, integer argument made huge, endpoint, the rule's integer arguments) for
    every integer part of every rule."""
    cases = []
    for rule in _integer_rules():
        numbers = frozenset(name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for name in sorted(numbers):
                cases.append((rule.rule, method, name, rule.endpoint, numbers))
    return cases


def _fill(rule: str, numbers: frozenset[str], huge_argument: str, value: str) -> str:
    """``rule`` with ``value`` for ``huge_argument``, 1 for its other numbers and "x" for words."""

    def part(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == huge_argument:
            return value
        return "1" if name in numbers else "x"

    return re.sub(r"<(?:[^>:]+:)?(\w+)>", part, rule)


@pytest.fixture
def admin_client(client: FlaskClient, admin: User) -> FlaskClient:
    """The admin's browser, so admin-only views run instead of stopping at the door."""
    response = AuthActions(client).login("root")
    assert response.status_code == 302
    return client


PATH_CASES = _path_cases()


def test_the_url_map_has_integer_rules() -> None:
    """The generated cases below would pass vacuously on an empty list."""
    endpoints = {case[3] for case in PATH_CASES}
    assert {"monitoring.detail", "admin.user_edit", "notifications.open_notification", "api.monitor_status"} <= endpoints


@pytest.mark.parametrize(
    ("rule", "method", "argument", "endpoint", "numbers"), PATH_CASES, ids=[f"{c[1]} {c[0]} {c[2]}" for c in PATH_CASES]
)
def test_huge_integers_in_the_path_are_not_found(
    admin_client: FlaskClient, rule: str, method: str, argument: str, endpoint: str, numbers: frozenset[str]
) -> None:
    """Every value is past any row (a 404 whether the router or the view says so); on PostgreSQL
    the values between the INTEGER and BIGINT limits crash a view whose converter is too wide."""
    token = csrf_token_from(admin_client.get("/dashboard").get_data(as_text=True))
    for value in HUGE_PATH_VALUES:
        path = _fill(rule, numbers, argument, value)
        data = {"csrf_token": token} if method != "GET" else None
        response = admin_client.open(path, method=method, data=data)
        shown = path if len(path) < 120 else path[:120] + "…"
        assert response.status_code != 500, f"{method} {shown} crashed"
        assert response.status_code == 404, f"{method} {shown}: {response.status_code}"


def test_the_bounded_converter_still_matches_real_ids(admin_client: FlaskClient, admin: User) -> None:
    monitor = make_monitor(admin)
    assert admin_client.get(f"/monitors/{monitor.id}").status_code == 200
    assert admin_client.get(f"/monitors/{monitor.id}/products").status_code == 200


# --- query parameters ----------------------------------------------------------------------------

# (page, parameter, the routes file that reads it, whether out-of-range values are clamped).
# ``{monitor}`` is replaced by a monitor of the admin's.
QUERY_PARAMETERS = [
    ("/notifications/", "page", "blueprints/notifications/routes.py", True),
    ("/notifications/", "monitor", "blueprints/notifications/routes.py", False),
    ("/monitors/{monitor}/products", "page", "blueprints/monitoring/routes.py", True),
    ("/admin/users", "page", "blueprints/admin/routes.py", True),
    ("/monitors/", "page", "blueprints/monitoring/routes.py", True),
    ("/admin/security-log", "page", "blueprints/admin/security_log.py", True),
    ("/admin/security-log", "user_id", "blueprints/admin/security_log.py", False),
    ("/admin/security-log.csv", "user_id", "blueprints/admin/security_log.py", False),
    ("/admin/sessions", "page", "blueprints/admin/sessions.py", True),
    ("/admin/sessions", "user_id", "blueprints/admin/sessions.py", False),
    ("/affiliate/", "days", "blueprints/affiliate/routes.py", True),
    ("/admin/affiliate/report", "days", "blueprints/admin/affiliate_reports.py", True),
]

BAD_VALUES = [
    "2147483648",
    "922337203685477580",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1" + "0" * 40,
    "9" * 5000,
    "-5",
    "0",
    "abc",
    "1e5",
    "0x10",
    "1_000",
    "٣",  # a digit, but not an ASCII one
    "-",
]


@pytest.mark.parametrize(("page", "parameter", "source", "clamped"), QUERY_PARAMETERS, ids=[f"{q[0]}?{q[1]}" for q in QUERY_PARAMETERS])
def test_integer_query_parameters_are_bounded(
    admin_client: FlaskClient, admin: User, page: str, parameter: str, source: str, clamped: bool
) -> None:
    path = page.format(monitor=make_monitor(admin).id)
    for value in BAD_VALUES:
        response = admin_client.get(path, query_string={parameter: value})
        shown = value if len(value) < 40 else value[:40] + "…"
        assert response.status_code != 500, f"{path}?{parameter}={shown} crashed"
        if clamped:
            assert response.status_code == 200, f"{path}?{parameter}={shown}: {response.status_code}"
        else:
            assert response.status_code in (200, 400), f"{path}?{parameter}={shown}: {response.status_code}"
            if response.status_code == 400:
                assert f"“{parameter}”" in response.get_data(as_text=True)


def test_a_huge_page_number_is_past_the_end(admin_client: FlaskClient, admin: User) -> None:
    response = admin_client.get("/admin/users", query_string={"page": "922337203685477580"})
    assert response.status_code == 200
    assert "This page is past the end of the list." in response.get_data(as_text=True)


def test_page_numbers_clamp_into_range() -> None:
    app = _bare_app()
    for raw, page in [("7", 7), ("0", 1), ("-3", 1), ("abc", 1), ("", 1), ("99999999999", MAX_PAGE), ("9" * 5000, MAX_PAGE)]:
        with app.test_request_context(query_string={"page": raw}):
            assert page_arg() == page, raw


def test_an_out_of_range_user_filter_is_a_clear_400(admin_client: FlaskClient, admin: User) -> None:
    for value in ("2147483648", "9223372036854775808", "0"):
        response = admin_client.get("/admin/security-log", query_string={"user_id": value})
        assert response.status_code == 400
        assert "must be a whole number from 1 to 2147483647" in response.get_data(as_text=True)
    response = admin_client.get("/admin/security-log", query_string={"user_id": "nobody"})
    assert response.status_code == 400
    assert admin_client.get("/admin/security-log", query_string={"user_id": str(admin.id)}).status_code == 200


def test_the_user_filter_keeps_filtering(app: Flask, admin_client: FlaskClient, admin: User) -> None:
    from tests.factories import make_user

    carol = make_user("carol")
    from services.audit import record_security_event

    record_security_event("password_changed", user_id=carol.id)
    own = admin_client.get("/admin/security-log", query_string={"user_id": str(carol.id)}).get_data(as_text=True)
    other = admin_client.get("/admin/security-log", query_string={"user_id": str(admin.id)}).get_data(as_text=True)
    assert "carol" in own and "carol" not in other


def test_every_integer_query_parameter_is_in_the_table() -> None:
    """Routes read integer query parameters only through ``web.params``, and every one they read
    is exercised above: a new ``type=int`` or an untested parameter fails here."""
    covered = {(source, parameter) for _, parameter, source, _ in QUERY_PARAMETERS}
    read: set[tuple[str, str]] = set()
    for path in sorted((PROJECT / "blueprints").rglob("*.py")) + sorted((PROJECT / "web").glob("*.py")):
        relative = path.relative_to(PROJECT).as_posix()
        if relative == "web/params.py":
            continue
        source = path.read_text()
        assert "type=int" not in source, f"{relative} reads an integer query parameter without bounds"
        for match in re.finditer(r"\b(int_arg|page_arg)\(([^)]*)\)", source):
            names = re.findall(r"[\"'](\w+)[\"']", match.group(2))
            read.add((relative, names[0] if names else "page"))
    assert read, "no integer query parameters found: the scan is broken"
    assert read <= covered, f"untested integer query parameters: {sorted(read - covered)}"


def test_the_message_is_in_dutch_too(admin_client: FlaskClient, admin: User) -> None:
    response = admin_client.get("/admin/security-log", query_string={"lang": "nl", "user_id": "x"})
    assert response.status_code == 400
    assert "De parameter “user_id” moet een geheel getal van 1 tot en met 2147483647 zijn." in response.get_data(as_text=True)
