"""Accounts: log in/out, passwords, sessions, preferences, and admin user management."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from blueprints.auth import routes  # noqa: E402,F401  (registers the views on bp)
