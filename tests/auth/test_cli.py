"""``flask users …`` through click's runner: happy paths and every kind of bad input."""
from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from extensions import db
from models import User
from services.accounts import find_user, verify_password
from tests.auth.conftest import is_logged_in, live_session_ids
from tests.conftest import PASSWORD


def assert_clean_failure(result) -> None:  # noqa: ANN001
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1


def test_create_with_password_option(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "dana@example.com", "dana", "--password", "a long enough password"])
    assert result.exit_code == 0, result.output
    assert "Created member dana" in result.output
    dana = find_user("dana")
    assert dana is not None and dana.role == "member" and verify_password(dana, "a long enough password")


def test_create_admin_with_prompted_password(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "eve@example.com", "eve", "--admin"],
                           input="a long enough password\na long enough password\n")
    assert result.exit_code == 0, result.output
    assert "a long enough password" not in result.output  # hidden input is not echoed
    eve = find_user("eve")
    assert eve.role == "admin" and verify_password(eve, "a long enough password")


def test_create_prompt_must_match(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "eve@example.com", "eve"],
                           input="a long enough password\ndifferent password!!\n")
    assert result.exit_code != 0
    assert find_user("eve") is None


def test_create_bad_input(runner: FlaskCliRunner, alice: User) -> None:
    assert_clean_failure(runner.invoke(args=["users", "create", "not-an-email", "x", "--password", "a long enough password"]))
    assert_clean_failure(runner.invoke(args=["users", "create", "new@example.com", "alice", "--password", "a long enough password"]))
    assert_clean_failure(runner.invoke(args=["users", "create", "new@example.com", "new", "--password", "short"]))
    assert_clean_failure(runner.invoke(args=["users", "create", "new@example.com", "new", "--password", "a long enough password", "--tier", "gold"]))
    missing = runner.invoke(args=["users", "create", "only@example.com"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


@pytest.mark.parametrize(
    ("email", "username", "extra", "message"),
    [
        ("bad-email", "x", [], "not a valid e-mail address"),
        ("new@example.com", "no spaces", [], "Username must be"),
        ("new@example.com", "new", ["--tier", "gold"], "Unknown subscription tier"),
        ("alice@example.com", "new", [], "already exists"),
        ("new@example.com", "ALICE", ["--admin"], "already exists"),
    ],
)
def test_create_checks_every_argument_before_asking_for_a_password(
    runner: FlaskCliRunner, alice: User, email: str, username: str, extra: list[str], message: str
) -> None:
    # A password on stdin would be accepted if a prompt came first: the command must not read it.
    result = runner.invoke(args=["users", "create", email, username, *extra],
                           input="a long enough password\na long enough password\n")
    assert_clean_failure(result)
    assert message in result.output
    assert "Password" not in result.output
    assert find_user("new@example.com") is None


def test_create_prompt_says_what_is_wrong_with_a_password_and_asks_again(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "create", "eve@example.com", "eve"],
                           input="short\na long enough password\na long enough password\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Error: Password must be at least") == 1
    assert result.output.count("Password: ") == 2 and "Repeat for confirmation" in result.output
    assert verify_password(find_user("eve"), "a long enough password")


def test_set_password_checks_the_account_before_asking(runner: FlaskCliRunner, alice: User) -> None:
    result = runner.invoke(args=["users", "set-password", "nobody"], input="prompted password\nprompted password\n")
    assert_clean_failure(result)
    assert "New password" not in result.output


def test_set_password(app: Flask, runner: FlaskCliRunner, alice: User, browser, security_events) -> None:  # noqa: ANN001
    client = browser("alice")
    result = runner.invoke(args=["users", "set-password", "alice@example.com", "--password", "reset from the shell"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert verify_password(alice, "reset from the shell")
    assert not is_logged_in(client)
    assert security_events("password_changed")[0].details["via"] == "cli"


def test_set_password_prompts(runner: FlaskCliRunner, alice: User) -> None:
    result = runner.invoke(args=["users", "set-password", "alice"], input="prompted password\nprompted password\n")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert verify_password(alice, "prompted password")


def test_set_password_bad_input(runner: FlaskCliRunner, alice: User) -> None:
    assert_clean_failure(runner.invoke(args=["users", "set-password", "nobody", "--password", "a long enough password"]))
    assert_clean_failure(runner.invoke(args=["users", "set-password", "alice", "--password", "short"]))
    db.session.expire_all()
    assert verify_password(alice, PASSWORD)


def test_list(runner: FlaskCliRunner, alice: User, admin: User) -> None:
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "E-MAIL", "ROLE", "TIER", "ACTIVE", "LAST", "LOGIN"]
    assert any(line.split()[1:4] == ["alice", "alice@example.com", "member"] for line in lines[1:])
    assert any(line.split()[1:4] == ["root", "root@example.com", "admin"] for line in lines[1:])


def test_list_empty(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0 and "No users yet" in result.output


def test_deactivate_ends_sessions(app: Flask, runner: FlaskCliRunner, alice: User, browser) -> None:  # noqa: ANN001
    client = browser("alice")
    result = runner.invoke(args=["users", "deactivate", "alice"])
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    assert not is_logged_in(client)
    assert live_session_ids(alice.id) == []
    db.session.expire_all()
    assert alice.is_active is False


def test_deactivate_bad_input(runner: FlaskCliRunner, alice: User) -> None:
    assert_clean_failure(runner.invoke(args=["users", "deactivate", "nobody"]))
    runner.invoke(args=["users", "deactivate", "alice"])
    assert_clean_failure(runner.invoke(args=["users", "deactivate", "alice"]))


def test_ensure_admin_generates_a_password_once(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["users", "ensure-admin"])
    assert result.exit_code == 0, result.output
    password = next(line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("Password: "))
    admin = find_user("admin@example.com")
    assert admin.role == "admin" and verify_password(admin, password)
    assert len(password) >= 20
    again = runner.invoke(args=["users", "ensure-admin"])
    assert again.exit_code == 0 and "already exists" in again.output and password not in again.output
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1


def test_ensure_admin_from_config(app: Flask, runner: FlaskCliRunner) -> None:
    app.config.update(ADMIN_EMAIL="Owner@Example.com", ADMIN_PASSWORD="configured admin password")
    result = runner.invoke(args=["users", "ensure-admin"])
    assert result.exit_code == 0, result.output
    assert "configured admin password" not in result.output
    owner = find_user("owner@example.com")
    assert owner.role == "admin" and owner.username == "Owner" and verify_password(owner, "configured admin password")


def test_ensure_admin_promotes_existing_account(app: Flask, runner: FlaskCliRunner, alice: User) -> None:
    app.config.update(ADMIN_EMAIL="alice@example.com")
    result = runner.invoke(args=["users", "ensure-admin"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert alice.role == "admin" and verify_password(alice, PASSWORD)


def test_ensure_admin_does_nothing_when_an_admin_exists(runner: FlaskCliRunner, admin: User) -> None:
    result = runner.invoke(args=["users", "ensure-admin"])
    assert result.exit_code == 0 and "already exists" in result.output
    assert find_user("admin@example.com") is None


def test_ensure_admin_bad_config(app: Flask, runner: FlaskCliRunner) -> None:
    app.config.update(ADMIN_PASSWORD="short")
    assert_clean_failure(runner.invoke(args=["users", "ensure-admin"]))
    app.config.update(ADMIN_PASSWORD="long enough admin password", ADMIN_EMAIL="not an email")
    assert_clean_failure(runner.invoke(args=["users", "ensure-admin"]))
