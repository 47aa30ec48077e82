"""``flask users …``: accounts from the command line (first admin, password resets, lists).

Every command runs inside the app context (``AppGroup``) and goes through the same services as
the web pages, so the rules and the security log are the same. Bad input ends with one clear
line and exit code 1, never a traceback; every argument is checked before a password is asked for.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from extensions import db
from models import User
from services import accounts
from services.accounts import AccountChanges, AccountError, update_user
from services.audit import record_security_event
from services.sessions import revoke_user_sessions

users_cli = AppGroup("users", help="Create, list and manage user accounts.")


DEFAULT_ADMIN_EMAIL = "admin@example.com"


def _user_or_fail(login: str) -> User:
    user = accounts.find_user(login)
    if user is None:
        raise click.ClickException(f"No user with e-mail or username {login!r}.")
    return user


def _checked_password(password: str) -> str:
    try:
        accounts.validate_password(password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    return password


def _acceptable_password(password: str) -> str:
    """``click.prompt``'s check of a typed password: a rule it breaks is said at once and the
    prompt asks again, before the confirmation."""
    try:
        accounts.validate_password(password)
    except AccountError as exc:
        raise click.BadParameter(str(exc)) from None
    return password


def _prompt_password(label: str) -> str:
    """Asked only after every other argument was checked: a typo elsewhere must not cost a
    password typed twice."""
    return click.prompt(label, hide_input=True, confirmation_prompt=True, value_proc=_acceptable_password)


@users_cli.command("create")
@click.argument("email")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Make the account an administrator.")
@click.option("--password", help="The password (asked twice, hidden, when left out).")
@click.option("--tier", default="free", show_default=True, help="Subscription tier.")
def create_command(email: str, username: str, admin: bool, password: str | None, tier: str) -> None:
    """Create an account for EMAIL with USERNAME."""
    role = "admin" if admin else "member"
    try:
        accounts.check_new_account(email, username, role=role, subscription_tier=tier)
        if password is None:
            password = _prompt_password("Password")
        user = accounts.create_user(email, username, password, role=role, subscription_tier=tier)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    record_security_event(
        "admin_action",
        user_id=user.id,
        details={"action": "user_created", "via": "cli", "target": user.username, "role": user.role},
    )
    click.echo(f"Created {user.role} {user.username} <{user.email}> (id {user.id}).")


@users_cli.command("set-password")
@click.argument("login")
@click.option("--password", help="The new password (asked twice, hidden, when left out).")
def set_password_command(login: str, password: str | None) -> None:
    """Give LOGIN (e-mail or username) a new password and log them out everywhere."""
    user = _user_or_fail(login)
    if password is None:
        password = _prompt_password("New password")
    try:
        accounts.set_password(user, password)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    user.failed_login_count = 0
    user.locked_until = None
    db.session.commit()
    ended = revoke_user_sessions(user.id, "password_changed")
    record_security_event("password_changed", user_id=user.id, details={"via": "cli", "sessions_ended": ended})
    click.echo(f"Password of {user.username} changed; {ended} session(s) ended.")


@users_cli.command("list")
def list_command() -> None:
    """Every account as a table."""
    users = list(db.session.scalars(select(User).order_by(func.lower(User.username))))
    if not users:
        click.echo("No users yet. Create one with: flask users create EMAIL USERNAME --admin")
        return
    rows = [
        (
            str(u.id),
            u.username,
            u.email,
            u.role,
            u.subscription_tier,
            "yes" if u.is_active else "no",
            u.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if u.last_login_at else "never",
        )
        for u in users
    ]
    header = ("ID", "USERNAME", "E-MAIL", "ROLE", "TIER", "ACTIVE", "LAST LOGIN")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@users_cli.command("deactivate")
@click.argument("login")
def deactivate_command(login: str) -> None:
    """Stop LOGIN from logging in and end all of their sessions at once."""
    user = _user_or_fail(login)
    if not user.is_active:
        raise click.ClickException(f"{user.username} is already deactivated.")
    try:
        update_user(user, AccountChanges(is_active=False))  # the rules: not the last active admin
    except AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    ended = revoke_user_sessions(user.id, "deactivated")
    record_security_event(
        "admin_action",
        user_id=user.id,
        details={"action": "user_updated", "via": "cli", "changes": {"is_active": [True, False]}, "sessions_ended": ended},
    )
    click.echo(f"Deactivated {user.username}; {ended} session(s) ended.")


@users_cli.command("ensure-admin")
def ensure_admin_command() -> None:
    """Make sure someone can administer the site (safe to run on every start).

    With an active admin present nothing happens. Otherwise an admin is created from
    ADMIN_EMAIL / ADMIN_PASSWORD, or with a generated password that is printed this once.
    """
    if accounts.has_active_admin():
        click.echo("An administrator already exists; nothing to do.")
        return
    email = current_app.config.get("ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL
    configured_password = current_app.config.get("ADMIN_PASSWORD")
    password = _checked_password(configured_password) if configured_password else accounts.generate_password(20)
    existing = accounts.find_user(email)
    if existing is not None:
        _promote(existing, password if configured_password else None)
        return
    try:
        user = accounts.create_user(email, _free_username(email), password, role="admin")
    except AccountError as exc:
        raise click.ClickException(f"ADMIN_EMAIL: {exc}") from None
    record_security_event(
        "admin_action", user_id=user.id, details={"action": "user_created", "via": "ensure-admin", "role": "admin"}
    )
    click.echo(f"Created administrator {user.username} <{user.email}>.")
    if configured_password:
        click.echo("Log in with the password from ADMIN_PASSWORD.")
    else:
        click.echo(f"Password: {password}")
        click.echo("This password is shown only once. Log in and change it under Change password.")


def _promote(user: User, password: str | None) -> None:
    """ADMIN_EMAIL names an existing account: make it an active admin instead of a duplicate."""
    user.role = "admin"
    user.is_active = True
    if password is not None:
        accounts.set_password(user, password, commit=False)
    db.session.commit()
    record_security_event(
        "admin_action", user_id=user.id, details={"action": "user_promoted", "via": "ensure-admin"}
    )
    click.echo(f"Made {user.username} <{user.email}> an administrator.")


def _free_username(email: str) -> str:
    """The e-mail's local part made into a valid username, numbered if it is taken."""
    base = "".join(c for c in email.split("@", 1)[0] if c.isalnum() or c in "._-").lstrip("._-")[:56] or "admin"
    candidate, number = base, 1
    while accounts.find_user(candidate) is not None:
        number += 1
        candidate = f"{base}{number}"
    return candidate

