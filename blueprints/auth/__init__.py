"""Accounts: log in/out, passwords, sessions, preferences, accounts by e-mail and data rights."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from blueprints.auth import account_routes, data_routes, routes  # noqa: E402,F401  (registers the views on bp)
