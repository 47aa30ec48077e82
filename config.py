"""Configuration classes, filled from the environment with strict parsing.

A bad value (``POLL_BATCH_SIZE=abc``) stops start-up with one clear line instead of surfacing
later as a confusing error deep in a request. The environment is read when a config object is
built (in the app factory), never at import. Which settings exist, with their types, defaults
and bounds, is declared once in ``settings.py``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger

from settings import BY_NAME, SETTINGS, Setting


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_str(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """A plain string, or ``default`` when unset or blank."""
    value = _env(environ, name)
    return default if value is None else value


def env_http_url(environ: Mapping[str, str], name: str, default: str) -> str:
    """An absolute http(s) URL with a host (a trailing slash is dropped); anything else is a
    ``ConfigError``, so a typo stops every process at start with one line instead of failing
    each poll later."""
    value = env_str(environ, name, default) or default
    parsed = urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{name} must be an http(s) URL such as https://www.dhgate.com, got {value!r}")
    return value.rstrip("/")


def env_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    """An integer with an optional lower bound; anything else is a ``ConfigError``."""
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(environ: Mapping[str, str], name: str, default: float, *, minimum: float | None = None) -> float:
    """A number with an optional lower bound; anything else is a ``ConfigError``."""
    raw = _env(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """``true/false/yes/no/on/off/1/0``; anything else is a ``ConfigError``."""
    raw = _env(environ, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of values (case-insensitive)."""
    raw = _env(environ, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered not in {c.lower() for c in choices}:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return next(c for c in choices if c.lower() == lowered)


def env_list(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list; blank items are dropped."""
    raw = _env(environ, name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_rates(name: str, text: str) -> dict[str, Decimal]:
    """``electronics=3,fashion=8,default=5`` into percentages per (lower-case) category.

    Every rate is a number from 0 to 100 and ``default`` must be there: a category without a
    rate of its own earns the default, so a missing one would leave orders without commission.
    """
    rates: dict[str, Decimal] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        category, sep, raw = item.partition("=")
        category = category.strip().lower()
        if not sep or not category:
            raise ConfigError(f"{name} must look like 'electronics=3,default=5', got {item!r}")
        try:
            rate = Decimal(raw.strip())
        except InvalidOperation:
            raise ConfigError(f"{name}: the rate of {category} must be a number, got {raw.strip()!r}") from None
        if not rate.is_finite() or not 0 <= rate <= 100:
            raise ConfigError(f"{name}: the rate of {category} must be between 0 and 100, got {raw.strip()!r}")
        rates[category] = rate
    if "default" not in rates:
        raise ConfigError(f"{name} needs a default rate, e.g. 'default=5'")
    return rates


_EVERY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(name: str, spec: str) -> tuple[str, Any]:
    """A periodic job's schedule: ``("every", seconds)``, ``("cron", "M H DOM MON DOW")`` or
    ``("off", None)``. Part of the background-system settings; ``name`` only feeds the message."""
    text = " ".join(spec.split()).lower()
    if text == "off":
        return "off", None
    if text.startswith("every "):
        amount = text[len("every "):].replace(" ", "")
        unit = amount[-1] if amount and amount[-1] in _EVERY_UNITS else "s"
        number = amount[:-1] if amount and amount[-1] in _EVERY_UNITS else amount
        if not number.isdigit() or int(number) < 1:
            raise ConfigError(f"schedule of {name} must look like 'every 60s', 'every 5m', got {spec!r}")
        return "every", int(number) * _EVERY_UNITS[unit]
    if text.startswith("cron "):
        expression = text[len("cron "):]
        try:
            CronTrigger.from_crontab(expression, timezone="UTC")
        except ValueError as exc:
            raise ConfigError(f"schedule of {name} has a bad cron expression {expression!r}: {exc}") from None
        return "cron", expression
    raise ConfigError(f"schedule of {name} must be 'every N[s|m|h|d]', 'cron M H DOM MON DOW' or 'off', got {spec!r}")


def _load_schedule(environ: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """The default schedule with ``SCHEDULE_<NAME>`` overrides, each one validated."""
    schedule = dict(defaults)
    for key, value in environ.items():
        if not key.startswith("SCHEDULE_") or not value.strip():
            continue
        name = key[len("SCHEDULE_"):].lower()
        if name not in schedule:
            raise ConfigError(f"{key} names no scheduled job; known: {', '.join(sorted(schedule))}")
        schedule[name] = value.strip()
    for name, spec in schedule.items():
        parse_schedule(name, spec)
    return schedule


class Config:
    """Settings shared by every environment. ``load`` fills them from an environment mapping.

    What may be set from the environment is declared once, in ``settings.SETTINGS`` (name, type,
    default, bounds, meaning); a subclass may change such a default by defining the attribute
    (``ProductionConfig.SESSION_COOKIE_SECURE``). The attributes here are fixed values.
    """

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    # Stores
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    REDIS_KEY_PREFIX = "dhm:"

    # Sessions and cookies
    SESSION_COOKIE_NAME = "dhm_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_TOUCH_SECONDS = 60  # write last_seen_at at most this often per session
    WTF_CSRF_TIME_LIMIT: int | None = None  # tokens live as long as the session
    WTF_CSRF_SSL_STRICT = True
    # The longest ``next`` target followed or echoed back (a redirect, the login form's hidden
    # field). Real pages with their filters stay far below; a crafted longer one is ignored, so
    # it cannot make every answer that reflects it megabytes long.
    NEXT_URL_MAX_LENGTH = 2048

    # Passwords: werkzeug's scrypt (memory-hard). Tests use cheaper parameters of the same KDF.
    PASSWORD_HASH_METHOD = "scrypt"
    PASSWORD_MIN_LENGTH = 10
    SET_PASSWORD_LINK_HOURS = 48  # one-time set-password links admins hand out
    PASSWORD_RESET_LINK_MINUTES = 60  # "forgot password" links mailed to the person
    VERIFY_LINK_HOURS = 48  # links that confirm a new account's or a changed e-mail address
    # Forms that send an e-mail (forgot password, resend confirmation): per address and per IP.
    ACCOUNT_MAIL_RATE_LIMIT_IP = "10 per minute;30 per hour"
    ACCOUNT_MAIL_RATE_LIMIT_ADDRESS = "3 per 15 minutes"

    # Login protection
    LOGIN_RATE_LIMIT_IP = "20 per minute;200 per hour"
    LOGIN_RATE_LIMIT_ACCOUNT = "10 per minute"
    RATELIMIT_HEADERS_ENABLED = True

    # Look and language
    LANGUAGES: tuple[str, ...] = ("en", "nl")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"

    # Static files and compression
    STATIC_MAX_AGE = 31_536_000  # fingerprinted assets: one year, immutable
    COMPRESS_ALGORITHM: ClassVar[list[str]] = ["br", "gzip"]
    COMPRESS_MIMETYPES: ClassVar[list[str]] = [
        "text/html", "text/css", "text/plain", "application/json",
        "application/javascript", "text/javascript", "image/svg+xml",
    ]
    COMPRESS_MIN_SIZE = 500

    # Cache (Flask-Caching on Redis; the URL is filled in by the factory)
    CACHE_TYPE = "RedisCache"
    CACHE_DEFAULT_TIMEOUT = 30
    CACHE_KEY_PREFIX = "dhm:cache:"

    # Background system
    RQ_SYNC = False  # run jobs inline (only ever set by tests that want that)

    # The intervals offered in the monitor form (seconds); each tier sees those >= its minimum.
    MONITOR_INTERVAL_CHOICES: tuple[int, ...] = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Every fixed value of this class, plus every setting of ``settings.SETTINGS`` read
        from ``environ`` (this class's attribute, when it has one, is that setting's default)."""
        values: dict[str, Any] = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        for setting in SETTINGS:
            if setting.in_config:
                values[setting.name] = read_setting(setting, environ, getattr(cls, setting.name, setting.default))
        values["PERMANENT_SESSION_LIFETIME"] = timedelta(days=values["REMEMBER_DAYS"])
        return values


def read_setting(setting: Setting, environ: Mapping[str, str], default: Any) -> Any:
    """One setting's value from ``environ`` (``default`` when unset), checked against its type
    and bounds; anything else is a ``ConfigError`` naming the variable."""
    name, minimum = setting.variable, setting.minimum
    if setting.kind == "str":
        return env_str(environ, name, default)
    if setting.kind == "secret":
        value = env_str(environ, name, default)
        if value is not None and minimum is not None and len(value) < minimum:
            raise ConfigError(f"{name} must be at least {int(minimum)} characters")
        return value
    if setting.kind == "int":
        return env_int(environ, name, default, minimum=None if minimum is None else int(minimum))
    if setting.kind == "float":
        return env_float(environ, name, default, minimum=minimum)
    if setting.kind == "bool":
        return env_bool(environ, name, default)
    if setting.kind == "choice":
        return env_choice(environ, name, default, setting.choices)
    if setting.kind == "list":
        return env_list(environ, name, default)
    if setting.kind == "url":
        return env_http_url(environ, name, default)
    if setting.kind == "schedule":
        return _load_schedule(environ, default)
    if setting.kind == "rates":
        raw = _env(environ, name)
        return dict(default) if raw is None else parse_rates(name, raw)
    raise AssertionError(f"setting {setting.name} has an unknown kind {setting.kind!r}")


class DevelopmentConfig(Config):
    """Local use: embedded defaults, a generated secret kept in the instance folder."""

    ENV_NAME = "development"


class TestingConfig(Config):
    """The test suite: CSRF stays ON (tests log in through the real form)."""

    ENV_NAME = "testing"
    TESTING = True
    LOGIN_RATE_LIMIT_IP = "1000 per minute"
    SESSION_TOUCH_SECONDS = 0
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    NOTIFY_ALLOW_PRIVATE_HOSTS = True  # the tests' endpoints are on loopback
    AFFILIATE_CLICK_PUSH_SECONDS = 0.0  # each click reaches Redis before the response (tests read it)


class ProductionConfig(Config):
    """Production: secure cookies, HSTS, and no start without a real ``SECRET_KEY``."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def select_config(environ: Mapping[str, str]) -> type[Config]:
    """Pick the config class named by ``APP_ENV`` (default ``development``)."""
    app_env = BY_NAME["APP_ENV"]
    return CONFIGS[env_choice(environ, app_env.variable, app_env.default, app_env.choices)]
