"""Every setting read from the environment, declared once: name, type, default, bounds, meaning.

``config.Config.load`` reads each of these from the environment (strictly: a bad value is a
one-line ``ConfigError``); code that needs a value reads it from ``app.config`` and never
repeats the default. The README's "Configuration" table is checked against this one by a test
(``python settings.py`` prints the rows it expects). Values that are not meant to be changed
per deployment (cookie names, compression types, cache prefixes) stay plain ``Config``
attributes. This module only describes; it reads nothing and imports nothing of the project.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

Kind = Literal["str", "secret", "int", "float", "bool", "choice", "list", "url", "schedule", "rates"]


@dataclass(frozen=True)
class Setting:
    """One setting. ``minimum`` bounds numbers (and the length of a ``secret``); ``env`` names
    the environment variable when it differs from the ``app.config`` key; ``shown_default`` is
    what the README says when the real default is worked out at start-up."""

    name: str
    kind: Kind
    default: Any
    description: str
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    env: str | None = None
    shown_default: str | None = None
    in_config: bool = True  # False: read by the app factory itself, before any config exists

    @property
    def variable(self) -> str:
        """The environment variable that sets it."""
        return self.env or self.name

    def documented_default(self) -> str:
        """The default as the README shows it (backticks included), ``—`` for none."""
        if self.shown_default is not None:
            return self.shown_default
        return _show(self.default)


def _show(value: Any) -> str:
    if value is None or value == () or value == "":
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"


_SCHEDULE_DEFAULTS: Mapping[str, str] = MappingProxyType({
    # Every 30 s: a poll waits up to one tick before it is claimed, so the tick bounds how late
    # polls start (p95 33 s against 68 s with a minute, docs/scaling.md "Polling over time").
    "poll_due_monitors": "every 30s",
    "recover_polls": "every 15s",
    "flush_metrics": "every 60s",
    "snapshot_platform_metrics": "every 5m",
    "run_health_checks": "every 60s",
    "prune": "cron 17 3 * * *",
    "rollup_hours": "every 5m",
    "flush_affiliate_clicks": "every 60s",
    "rollup_affiliate": "every 10m",
    "deliver_notifications": "every 1m",
    "send_digests": "cron 0 * * * *",
})

# Appended to every outbound DHgate link; ``{affiliate_id}``, ``{click_ref}`` (our reference of
# this one click, which the network reports back with the order) and ``{source}`` are filled in.
_AFFILIATE_PARAMS = (
    "affiliate_id={affiliate_id}&utm_source=dhgate-monitor&utm_medium=affiliate"
    "&utm_campaign={source}&subid={click_ref}"
)

# The original's rates per product category, in percent; ``default`` for every other category.
_COMMISSION_RATES: Mapping[str, Decimal] = MappingProxyType({
    "electronics": Decimal("3"), "fashion": Decimal("8"), "beauty": Decimal("12"), "default": Decimal("5"),
})

_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

S = Setting
SETTINGS: tuple[Setting, ...] = (
    # Where things live
    S("APP_ENV", "choice", "development", "`development`, `testing` or `production`",
      choices=("development", "testing", "production"), in_config=False),
    S("INSTANCE_PATH", "str", None, "folder of the SQLite database, the generated secret and the embedded Redis",
      shown_default="`instance/` beside `app.py`", in_config=False),
    S("SECRET_KEY", "str", None, "signs sessions and links; required (≥ 32 chars) in production",
      shown_default="generated into `instance/secret_key`"),
    S("SQLALCHEMY_DATABASE_URI", "str", None, "e.g. `postgresql+psycopg://user:pw@host/db`",
      env="DATABASE_URL", shown_default="`sqlite:///instance/dhgate_monitor.db`"),
    S("REDIS_URL", "str", None, "e.g. `redis://host:6379/0`; the embedded one is started by `make run`, the worker and the commands that use Redis", shown_default="embedded Redis on `instance/redis.sock`"),
    S("BASE_URL", "str", "http://127.0.0.1:8000", "the site's own address (the one `make demo` prints)"),
    S("PROXY_FIX_HOPS", "int", 0, "proxies in front of gunicorn whose `X-Forwarded-*` to trust", minimum=0),
    S("ADMIN_EMAIL", "str", None, "the first admin `make run` creates"),
    S("ADMIN_PASSWORD", "str", None, "that admin's password (generated and printed once when unset)"),
    # Sessions and login
    S("SESSION_COOKIE_SECURE", "bool", False, "cookies only over HTTPS",
      shown_default="`false` (`true` in production)"),
    S("SESSION_COOKIE_SAMESITE", "choice", "Strict", "`Strict`, `Lax` or `None`", choices=("Strict", "Lax", "None")),
    S("SESSION_HOURS", "int", 24, "a session without \"remember me\" ends after this many hours", minimum=1),
    S("REMEMBER_DAYS", "int", 30, "a remembered session ends after this many days", minimum=1),
    S("TRUSTED_ORIGINS", "list", (), "extra origins allowed to POST (comma-separated)"),
    S("LOGIN_MAX_FAILURES", "int", 5, "failed logins in a row that lock an account", minimum=1),
    S("LOCKOUT_MINUTES", "int", 15, "how long a locked account stays locked", minimum=1),
    S("RATELIMIT_ENABLED", "bool", True, "rate limits on the login form"),
    # DHgate and fetching
    S("DHGATE_BASE_URL", "url", "https://www.dhgate.com", "where DHgate is fetched from (the sandbox in tests)"),
    S("DHGATE_ALLOWED_HOSTS", "list", ("dhgate.com",), "hosts a pasted URL may name"),
    S("DHGATE_CONNECT_TIMEOUT_SECONDS", "float", 10.0, "connect timeout per request", minimum=0.1),
    S("DHGATE_TIMEOUT_SECONDS", "float", 20.0, "read timeout per request", minimum=0.1),
    S("DHGATE_MAX_PAGES", "int", 5, "most pages of one store or search read per poll", minimum=1),
    S("DHGATE_REQUESTS_PER_SECOND", "float", 1.0, "requests per second to DHgate, shared by every worker",
      minimum=0.01),
    S("DHGATE_RATE_BURST", "int", 1, "requests allowed back to back before that rate applies", minimum=1),
    S("DHGATE_PROXIES", "list", (), "outbound HTTP proxies to DHgate (comma-separated URLs), each with its own "
      "request budget, breaker and block cool-down; empty: direct"),
    S("DHGATE_RETRY_ATTEMPTS", "int", 3, "tries per page on timeouts, 408, 429 and 5xx", minimum=1),
    S("DHGATE_RETRY_WAIT_SECONDS", "float", 2.0, "first backoff; doubles per attempt, plus jitter", minimum=0.0),
    S("DHGATE_RETRY_MAX_WAIT_SECONDS", "float", 30.0, "longest backoff between two tries", minimum=0.0),
    S("DHGATE_RETRY_AFTER_MAX_SECONDS", "float", 60.0, "a Retry-After above this is cut down to it", minimum=0.0),
    S("DHGATE_BREAKER_FAILURES", "int", 5, "failed fetches in a row that open the host's circuit", minimum=1),
    S("DHGATE_BREAKER_RESET_SECONDS", "float", 60.0, "an open circuit lets one trial request through after this",
      minimum=1.0),
    S("DHGATE_COOKIES", "str", "language=en; b2b_ship_country=US; intl_currency=USD",
      "cookies sent with every request (prices in USD, shipping to the US)"),
    S("DHGATE_USER_AGENT", "str", _USER_AGENT, "the User-Agent sent to DHgate",
      shown_default="a current desktop Chrome"),
    S("DHGATE_MAX_PAGE_BYTES", "int", 8 * 1024 * 1024, "a larger answer is an error, not a page", minimum=64 * 1024),
    # Monitors and polling
    S("MONITOR_MIN_INTERVAL_FREE", "int", 6 * 3600, "shortest poll interval (s) of the free tier", minimum=60),
    S("MONITOR_MIN_INTERVAL_PRO", "int", 15 * 60, "shortest poll interval (s) of the pro tier", minimum=60),
    S("MONITOR_MIN_INTERVAL_BUSINESS", "int", 5 * 60, "shortest poll interval (s) of the business tier",
      minimum=60),
    S("POLL_BUDGET_SECONDS", "float", 120.0, "one poll (all its pages, retries and waits) ends within this",
      minimum=1.0),
    S("POLL_BACKOFF_MAX_SECONDS", "int", 6 * 3600, "failing monitors wait at most this (or 4× their interval)",
      minimum=60),
    S("POLL_CLAIM_LEASE_SECONDS", "int", 900, "a claimed monitor is not claimed again before this passes",
      minimum=60),
    S("POLL_SPREAD_SECONDS", "int", 25, "due polls are spread over this many seconds after each tick", minimum=0),
    S("POLL_BATCH_SIZE", "int", 2000, "most monitors claimed per tick; the rest wait for the next one", minimum=1),
    S("POLL_JOB_SIZE", "int", 256, "monitors per polling job (one job polls them side by side)", minimum=1),
    S("POLL_CONCURRENCY", "int", 32, "polls in flight per polling job (fewer when the request budget is small)",
      minimum=1),
    S("MISSING_POLLS_THRESHOLD", "int", 3, "complete polls a product must be absent from to be \"missing\"",
      minimum=1),
    # Worker and scheduler
    S("WORKER_TTL_SECONDS", "int", 45, "RQ's worker TTL: an idle worker heartbeats every TTL − 15 s", minimum=20),
    S("WORKER_STALE_SECONDS", "int", 30, "no heartbeat for this long means \"the worker is dead\" (its polls go to "
      "another worker); workers beat every sixth of it", minimum=5),
    S("WORKER_RQ_SCHEDULER", "bool", False, "workers also run RQ's scheduler (only without `flask scheduler run`, "
      "which releases delayed jobs and retries itself)"),
    S("SCHEDULER_LOCK_TTL_SECONDS", "float", 30.0, "a dead active scheduler is replaced within about this",
      minimum=0.5),
    S("SCHEDULER_MISFIRE_GRACE_SECONDS", "int", 30, "a tick later than this is skipped (runs coalesce)", minimum=1),
    S("SCHEDULER_RELEASE_SECONDS", "float", 1.0, "the active scheduler moves due delayed jobs and retries onto "
      "their queues this often", minimum=0.1),
    S("SCHEDULER_CLAIM_TTL_SECONDS", "int", 3600, "how long \"slot already enqueued\" is remembered", minimum=60),
    S("SCHEDULE", "schedule", _SCHEDULE_DEFAULTS,
      "`SCHEDULE_<JOB>`: `every 60s`/`5m`/`1h`/`1d`, `cron MIN HOUR DOM MON DOW` (UTC) or `off`"),
    # Metrics, health and retention
    S("METRICS_ENABLED", "bool", True, "request and database timing middleware"),
    S("METRICS_PUSH_SECONDS", "float", 5.0, "each process pushes its aggregates to Redis this often…", minimum=0.0),
    S("METRICS_PUSH_SAMPLES", "int", 1000, "…or after this many samples, whichever comes first", minimum=1),
    S("METRICS_BUFFER_TTL_SECONDS", "int", 3 * 86400, "unflushed metric buffers are dropped after this",
      minimum=3600),
    S("METRICS_TOKEN", "secret", None, "bearer token for `/metrics` scrapers, ≥ 16 chars (admins need none)",
      minimum=16),
    S("METRICS_MINUTE_RETENTION_HOURS", "int", 24, "then minute rows are rolled up into hour rows", minimum=1),
    S("METRICS_HOUR_RETENTION_DAYS", "int", 30, "hour rows of request metrics are kept this long", minimum=1),
    S("HEALTH_CHECK_RETENTION_DAYS", "int", 30, "health check results are kept this long", minimum=1),
    S("PLATFORM_METRICS_RETENTION_DAYS", "int", 30, "platform snapshots are kept this long", minimum=1),
    S("SECURITY_EVENT_RETENTION_DAYS", "int", 90, "the security log is kept this long", minimum=1),
    S("HEALTH_CHECK_TIMEOUT_SECONDS", "float", 5.0, "per check; checks run in parallel threads", minimum=0.1),
    S("READYZ_CACHE_SECONDS", "float", 3.0, "`/readyz` answers from this process's last result meanwhile",
      minimum=0.0),
    S("DASHBOARD_CACHE_SECONDS", "int", 30, "the admin platform dashboard's figures are cached this long",
      minimum=0),
    # Affiliate
    S("AFFILIATE_ID", "str", None, "our affiliate id at DHgate's network, put into every outbound link"),
    S("AFFILIATE_URL_PARAMS", "str", _AFFILIATE_PARAMS,
      "query appended to outbound DHgate links; `{affiliate_id}`, `{click_ref}` and `{source}` are filled in",
      shown_default="affiliate id, utm tags and `subid={click_ref}`"),
    S("AFFILIATE_COMMISSION_RATES", "rates", _COMMISSION_RATES,
      "commission in % per product category, `category=percent` comma-separated; `default` is required",
      shown_default="`electronics=3,fashion=8,beauty=12,default=5`"),
    S("AFFILIATE_CURRENCY", "str", "USD", "currency of commission and payouts"),
    S("AFFILIATE_PAYOUT_THRESHOLD", "float", 50.0, "confirmed commission a member needs before a payout",
      minimum=0.0),
    S("AFFILIATE_CLICK_DEDUPE_SECONDS", "int", 30,
      "a repeat click by the same visitor on the same link within this is not counted again", minimum=1),
    S("AFFILIATE_CLICK_PUSH_SECONDS", "float", 0.5,
      "each web process sends its counted clicks to Redis in one batch this often (0: every click at once)",
      minimum=0.0),
    S("AFFILIATE_POSTBACK_SECRET", "secret", None,
      "shared secret the network signs conversion postbacks with, ≥ 16 chars; `/affiliate/postback` is off "
      "(404) while unset", minimum=16),
    S("STATUS_PAGE_CACHE_SECONDS", "int", 60, "the public status page's content is cached this long (0: not cached)",
      minimum=0),
    # Notifications: e-mail and delivery
    S("MAIL_SERVER", "str", None, "SMTP host that sends alert e-mails (unset: e-mail deliveries fail and say so)"),
    S("MAIL_PORT", "int", 587, "SMTP port (587 STARTTLS, 465 SSL, 25 plain)", minimum=1),
    S("MAIL_USE_TLS", "bool", True, "STARTTLS after connecting"),
    S("MAIL_USE_SSL", "bool", False, "SMTP over SSL from the first byte (port 465)"),
    S("MAIL_USERNAME", "str", None, "SMTP login (none: no login)"),
    S("MAIL_PASSWORD", "secret", None, "SMTP password"),
    S("MAIL_DEFAULT_SENDER", "str", "DHgate Monitor <alerts@localhost>", "the From of every e-mail"),
    S("MAIL_TIMEOUT_SECONDS", "float", 20.0, "SMTP connect and read timeout", minimum=0.1),
    S("NOTIFY_MAX_ATTEMPTS", "int", 3, "tries per delivery before it is marked failed", minimum=1),
    S("NOTIFY_RETRY_SECONDS", "int", 60, "wait before the 2nd try; doubles for each later one", minimum=0),
    S("NOTIFY_CLAIM_LEASE_SECONDS", "int", 300, "a delivery being sent is not claimed again before this passes",
      minimum=10),
    S("NOTIFY_PAUSE_AFTER_FAILURES", "int", 5, "failed deliveries in a row that pause a channel", minimum=1),
    S("NOTIFY_ALLOW_PRIVATE_HOSTS", "bool", False,
      "accept apprise URLs whose host is a private, loopback or link-local address (on for the demo and tests)"),
    S("PROCESS_WATCH_SECONDS", "int", 60,
      "how often the active scheduler checks that a worker is running (admins are alerted when none is)", minimum=5),
    S("ADMIN_ALERT_FAILED_JOBS", "int", 10, "failed background jobs at which admins are alerted (once until it drops)",
      minimum=1),
    # Accounts by e-mail
    S("SIGNUP_ENABLED", "bool", False, "anyone may create an account at `/auth/signup` (confirmed by e-mail); off: 404"),
    S("DEMO_MAIL_DIR", "str", None,
      "folder of the demo's local mail sink (set by `make demo`): `/demo/mail` shows what it received; ignored in "
      "production"),
)
del S

BY_NAME: Mapping[str, Setting] = MappingProxyType({setting.name: setting for setting in SETTINGS})


def default(name: str) -> Any:
    """The declared default of setting ``name`` (a copy for the mappings: schedule, rates)."""
    value = BY_NAME[name].default
    return dict(value) if isinstance(value, Mapping) else value


def documented_rows() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for each environment variable, the schedule one per job."""
    rows: list[tuple[str, str, str]] = []
    for setting in SETTINGS:
        if setting.kind == "schedule":
            rows += [(f"SCHEDULE_{job.upper()}", f"`{spec}`", f"when `{job}` runs ({setting.description})")
                     for job, spec in setting.default.items()]
        else:
            rows.append((setting.variable, setting.documented_default(), setting.description))
    return rows


def markdown_table() -> str:
    """The README's configuration table, as this module declares it."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{variable}` | {shown} | {meaning} |" for variable, shown, meaning in documented_rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
