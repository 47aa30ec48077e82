"""Data factories: real rows through the same services the product uses."""
from __future__ import annotations

from typing import Any

from extensions import db
from models import Monitor, User
from services.accounts import create_user


def make_user(name: str, *, password: str = "correct horse battery staple", role: str = "member", **fields: Any) -> User:
    user = create_user(f"{name}@example.com", name, password, role=role)
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def make_monitor(user: User, *, kind: str = "store", dhgate_id: str = "21880856", **fields: Any) -> Monitor:
    defaults: dict[str, Any] = {
        "url": f"/store/top-selling/{dhgate_id}.html" if kind == "store" else "/",
        "name": f"{kind} {dhgate_id}",
    }
    defaults.update(fields)
    monitor = Monitor(user_id=user.id, kind=kind, dhgate_id=dhgate_id, **defaults)
    db.session.add(monitor)
    db.session.commit()
    return monitor
