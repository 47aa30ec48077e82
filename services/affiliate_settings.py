"""The affiliate settings in force: the environment's values, overridden by what an admin saved.

The environment (``AFFILIATE_*``, see ``settings.py``) gives every deployment working defaults;
the admin page stores its changes in ``site_settings`` (one row per field, keys
``affiliate.*``) so they hold for every process and survive restarts without a deploy. A field
saved back to the environment's value drops its row again, so a later change of the
environment is followed.

Rates are read when an order is imported and stored with it (``commission_rate``), so a changed
rate applies to orders imported afterwards and never rewrites what was already earned.
"""
from __future__ import annotations

import logging
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select

from config import ConfigError, parse_rates
from extensions import db
from models.site import SiteSetting

logger = logging.getLogger(__name__)

PREFIX = "affiliate."
FIELDS = ("affiliate_id", "url_params", "commission_rates", "currency", "payout_threshold")
PLACEHOLDERS = ("affiliate_id", "click_ref", "source")
MAX_PARAMS_LENGTH = 500
MAX_ID_LENGTH = 64
MAX_THRESHOLD = Decimal("1000000")
CENT = Decimal("0.01")
LINK_CACHE_SECONDS = 10.0
_CACHE_KEY = "affiliate_settings.for_links"


@dataclass(frozen=True)
class AffiliateSettings:
    affiliate_id: str
    url_params: str
    commission_rates: Mapping[str, Decimal]
    currency: str
    payout_threshold: Decimal
    overridden: frozenset[str] = field(default=frozenset())  # the fields an admin saved

    @property
    def rates_text(self) -> str:
        return format_rates(self.commission_rates)


class SettingsError(ValueError):
    """The submitted values are not usable; ``errors`` maps each field to its reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))


def format_rates(rates: Mapping[str, Decimal]) -> str:
    """``electronics=3, fashion=8, default=5``: the default last, numbers without trailing zeros."""
    ordered = sorted(rates.items(), key=lambda item: (item[0] == "default", item[0]))
    return ", ".join(f"{category}={_plain(rate)}" for category, rate in ordered)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def for_links() -> AffiliateSettings:
    """The settings the redirect builds outbound links with: read at most every
    ``LINK_CACHE_SECONDS`` per app process (the redirect is the hottest path of the site).

    Saving here clears this process's copy at once; other processes follow within the interval.
    Imports never use this copy: a rate must be the one in force when the order is imported.
    """
    cache: dict[str, tuple[float, AffiliateSettings]] = current_app.extensions.setdefault(_CACHE_KEY, {})
    now = time.monotonic()
    entry = cache.get("settings")
    if entry is not None and entry[0] > now:
        return entry[1]
    settings = current()
    cache["settings"] = (now + LINK_CACHE_SECONDS, settings)
    return settings


def _forget_cached() -> None:
    current_app.extensions.pop(_CACHE_KEY, None)


def environment() -> AffiliateSettings:
    """The values the environment gives (what the page offers to go back to)."""
    config = current_app.config
    return AffiliateSettings(
        affiliate_id=str(config.get("AFFILIATE_ID") or ""),
        url_params=str(config.get("AFFILIATE_URL_PARAMS") or ""),
        commission_rates=dict(config["AFFILIATE_COMMISSION_RATES"]),
        currency=str(config["AFFILIATE_CURRENCY"]).upper(),
        payout_threshold=Decimal(str(config["AFFILIATE_PAYOUT_THRESHOLD"])).quantize(CENT),
    )


def current() -> AffiliateSettings:
    """The settings in force now: one query for the saved overrides over the environment's values.

    A stored value that no longer parses (edited by hand in the database) is ignored with a
    warning rather than breaking every redirect.
    """
    base = environment()
    rows = db.session.execute(select(SiteSetting.key, SiteSetting.value).where(SiteSetting.key.like(PREFIX + "%")))
    saved = {key[len(PREFIX):]: value for key, value in rows if key[len(PREFIX):] in FIELDS}
    if not saved:
        return base
    try:
        values = _validated({**_as_text(base), **saved})
    except SettingsError as exc:
        logger.warning("stored affiliate settings ignored, they do not parse: %s", exc)
        return base
    return replace(values, overridden=frozenset(saved))


def _as_text(settings: AffiliateSettings) -> dict[str, str]:
    return {
        "affiliate_id": settings.affiliate_id, "url_params": settings.url_params,
        "commission_rates": settings.rates_text, "currency": settings.currency,
        "payout_threshold": str(settings.payout_threshold),
    }


def _validated(text: Mapping[str, str]) -> AffiliateSettings:
    """Every field checked and converted; ``SettingsError`` naming each bad field."""
    errors: dict[str, str] = {}
    affiliate_id = text.get("affiliate_id", "").strip()
    if len(affiliate_id) > MAX_ID_LENGTH:
        errors["affiliate_id"] = _("At most %(n)s characters.", n=MAX_ID_LENGTH)
    elif any(ch.isspace() for ch in affiliate_id):
        errors["affiliate_id"] = _("The affiliate id cannot contain spaces.")
    params = text.get("url_params", "").strip()
    problem = _params_problem(params)
    if problem:
        errors["url_params"] = problem
    rates: dict[str, Decimal] = {}
    try:
        rates = parse_rates("rates", text.get("commission_rates", ""))
    except ConfigError as exc:
        errors["commission_rates"] = _(
            "Write rates as category=percent, comma-separated, each from 0 to 100, with a default "
            "(e.g. electronics=3, default=5). Problem: %(detail)s", detail=str(exc).removeprefix("rates: "))
    currency = text.get("currency", "").strip().upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        errors["currency"] = _("A three-letter currency code such as USD or EUR.")
    threshold = Decimal("0")
    try:
        threshold = Decimal(text.get("payout_threshold", "").strip().replace(",", "."))
        if not threshold.is_finite() or not 0 <= threshold <= MAX_THRESHOLD:
            raise InvalidOperation
    except InvalidOperation:
        errors["payout_threshold"] = _("An amount from 0 to %(max)s.", max=MAX_THRESHOLD)
    if errors:
        raise SettingsError(errors)
    return AffiliateSettings(affiliate_id=affiliate_id, url_params=params, commission_rates=rates,
                             currency=currency, payout_threshold=threshold.quantize(CENT))


def _params_problem(params: str) -> str | None:
    """Why a URL parameter template cannot be used, or None."""
    if len(params) > MAX_PARAMS_LENGTH:
        return _("At most %(n)s characters.", n=MAX_PARAMS_LENGTH)
    if any(ch.isspace() for ch in params) or "#" in params:
        return _("The parameters cannot contain spaces or #.")
    try:
        names = {name for _text, name, _spec, _conv in string.Formatter().parse(params) if name is not None}
    except ValueError:
        return _("A { without its } (placeholders look like {click_ref}).")
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        return _("Unknown placeholder {%(name)s}; use {affiliate_id}, {click_ref} or {source}.", name=unknown[0])
    if "click_ref" not in names:
        return _("Include {click_ref} (e.g. subid={click_ref}), or orders cannot be matched to clicks.")
    return None


def check(text: Mapping[str, str]) -> AffiliateSettings:
    """The settings ``text`` describes; ``SettingsError`` naming each bad field."""
    return _validated(text)


def save(text: Mapping[str, str], by_user_id: int | None) -> AffiliateSettings:
    """Check and store the submitted fields (all or none); a value equal to the environment's
    drops its override. ``SettingsError`` when any field is bad (nothing is written)."""
    wanted = _validated(text)
    base = environment()
    stored = _as_text(wanted)
    now = datetime.now(UTC)
    try:
        for name in FIELDS:
            row = db.session.get(SiteSetting, PREFIX + name)
            if getattr(wanted, name) == getattr(base, name):
                if row is not None:
                    db.session.delete(row)
                continue
            if row is None:
                row = SiteSetting(key=PREFIX + name, value="")
                db.session.add(row)
            row.value = stored[name]
            row.updated_at = now
            row.updated_by = by_user_id
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _forget_cached()
    logger.info("affiliate settings saved by user %s", by_user_id)
    return current()


def reset(by_user_id: int | None) -> None:
    """Back to the environment's values: every override removed."""
    db.session.execute(delete(SiteSetting).where(SiteSetting.key.like(PREFIX + "%")))
    db.session.commit()
    _forget_cached()
    logger.info("affiliate settings reset to the environment by user %s", by_user_id)
