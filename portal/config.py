"""Configuration read from environment variables, overridable by ``instance/config.py``."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime data (database, index, mail files, locks); PORTAL_INSTANCE_DIR moves it (tests give each run its own).
INSTANCE_DIR = Path(os.environ.get("PORTAL_INSTANCE_DIR") or BASE_DIR / "instance")


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'portal.db'}"
    # Accept the common postgres:// spellings and use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


DEVELOPMENT_KEY = "dev-only-insecure-key"
# Placeholders people copy from examples; never a production key.
KNOWN_WEAK_KEYS = frozenset(
    {DEVELOPMENT_KEY, "change-me-to-a-long-random-string", "changeme", "change-me", "secret", "dev", "development"}
)
MIN_SECRET_KEY_LENGTH = 32


class InsecureSecretKey(RuntimeError):
    """Start-up refused: outside development the secret key is missing, a known placeholder or too weak."""


def check_secret_key(config: dict) -> None:
    """Outside development and tests, refuse to start without a strong ``SECRET_KEY`` (sessions and CSRF tokens
    are signed with it). Development without a key gets a fixed one that production refuses."""
    key, env = config.get("SECRET_KEY"), config.get("ENV_NAME")
    relaxed = env in ("development", "testing") or config.get("TESTING") or config.get("DEBUG")
    if relaxed:
        config["SECRET_KEY"] = key or DEVELOPMENT_KEY
        return
    if not key:
        problem = "SECRET_KEY is not set"
    elif key in KNOWN_WEAK_KEYS:
        problem = "SECRET_KEY is a development or example placeholder"
    elif len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 10:
        problem = f"SECRET_KEY is too weak (use at least {MIN_SECRET_KEY_LENGTH} random characters)"
    else:
        return
    raise InsecureSecretKey(
        f"Refusing to start: {problem} (PORTAL_ENV={env}). Set SECRET_KEY to a long random value, e.g. "
        '`python -c "import secrets; print(secrets.token_urlsafe(48))"`, or set PORTAL_ENV=development on a '
        "developer machine."
    )


class Config:
    """Production-safe defaults: without ``PORTAL_ENV=development`` the portal runs as production and needs a
    strong ``SECRET_KEY``."""

    ENV_NAME = os.environ.get("PORTAL_ENV", "production")
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL") or None

    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(10 * 1024 * 1024)))  # 413 beyond 10 MB
    WTF_CSRF_TIME_LIMIT = None  # agent pages stay open for a whole shift
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True

    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or (os.environ.get("REDIS_URL") or "memory://")
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # Redis down must not take sign-in down: limits fall back to an in-process store (per process, so looser) and
    # a storage error is logged, never answered with a 500. Short timeouts keep a dead Redis from stalling requests.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")

    # Accounts and security. Client addresses come from X-Forwarded-For only when the peer is one of these proxies
    # (comma-separated addresses or networks); otherwise the peer's own address counts.
    TRUSTED_PROXIES = os.environ.get("TRUSTED_PROXIES", "")
    EMAIL_VERIFY_HOURS = int(os.environ.get("EMAIL_VERIFY_HOURS", "48"))  # life of a sign-up / new-address link
    PASSWORD_RESET_MINUTES = int(os.environ.get("PASSWORD_RESET_MINUTES", "60"))  # life of a reset link
    PASSWORD_MIN_LENGTH = int(os.environ.get("PASSWORD_MIN_LENGTH", "10"))
    # Failed sign-ins (and second-factor codes) before an account, or a client address, is locked out for a while.
    LOGIN_FAILURES_PER_ACCOUNT = os.environ.get("LOGIN_FAILURES_PER_ACCOUNT", "5 per 15 minutes")
    LOGIN_FAILURES_PER_ADDRESS = os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "20 per 15 minutes")
    TWO_FACTOR_FAILURES_PER_ACCOUNT = os.environ.get("TWO_FACTOR_FAILURES_PER_ACCOUNT", "5 per 15 minutes")
    SIGNUP_RATE_LIMIT = os.environ.get("SIGNUP_RATE_LIMIT", "10 per hour")  # per client address
    RESET_RATE_LIMIT = os.environ.get("RESET_RATE_LIMIT", "5 per hour")  # per address asked for and per client
    VERIFY_RESEND_RATE_LIMIT = os.environ.get("VERIFY_RESEND_RATE_LIMIT", "3 per hour")
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600 per minute")  # per API token
    # Two-factor authentication: required for these roles (comma-separated; "all-staff" adds agents and seniors).
    TWO_FACTOR_REQUIRED_ROLES = os.environ.get("TWO_FACTOR_REQUIRED_ROLES", "manager,admin")
    TOTP_ISSUER = os.environ.get("TOTP_ISSUER", "ESG Support")
    # Browser sessions: idle timeout and absolute lifetime.
    SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "240"))
    SESSION_LIFETIME_HOURS = int(os.environ.get("SESSION_LIFETIME_HOURS", "24"))
    # API tokens: default and longest life in days.
    API_TOKEN_DEFAULT_DAYS = int(os.environ.get("API_TOKEN_DEFAULT_DAYS", "90"))
    API_TOKEN_MAX_DAYS = int(os.environ.get("API_TOKEN_MAX_DAYS", "365"))

    TICKET_PREFIX = "ESG"
    QUEUE_PAGE_SIZE = int(os.environ.get("QUEUE_PAGE_SIZE", "50"))
    CUSTOMER_PRIORITIES = ("low", "medium", "high")
    DEFAULT_TIMEZONE = "UTC"
    REPORT_TIMEZONE = os.environ.get("REPORT_TIMEZONE", "UTC")  # reports' days, weeks and months (IANA zone name)
    # Go-live (YYYY-MM-DD): months 1, 3 and 6 of the success criteria count from it; an admin may override it.
    GO_LIVE_DATE = os.environ.get("GO_LIVE_DATE") or None

    SQL_ECHO = _bool("SQL_ECHO", False)

    # Search (portal/search): Whoosh indexes for KB content and tickets; KB analytics value a deflected ticket.
    INDEX_DIR = os.environ.get("INDEX_DIR") or str(INSTANCE_DIR / "index")
    INDEX_WRITE_TIMEOUT = float(os.environ.get("INDEX_WRITE_TIMEOUT", "30"))  # seconds a writer waits for the lock
    # `search rebuild`: tickets read per keyset batch, writer processes, MB of postings each holds before spilling
    INDEX_REBUILD_BATCH = int(os.environ.get("INDEX_REBUILD_BATCH", "500"))
    INDEX_REBUILD_PROCS = int(os.environ.get("INDEX_REBUILD_PROCS", "2"))
    INDEX_REBUILD_MB = int(os.environ.get("INDEX_REBUILD_MB", "128"))
    # Other due index.ticket rows one index job takes along into a single commit (0: one row per commit).
    INDEX_BATCH_ROWS = int(os.environ.get("INDEX_BATCH_ROWS", "500"))
    KB_COST_PER_TICKET = float(os.environ.get("KB_COST_PER_TICKET", "190"))
    # Where KB search log entries wait until a job moves them into the database (no write on a search): "auto"
    # (Redis when REDIS_URL is set, else spool files under the instance folder), "redis", "spool", or "database"
    # (written at once, as before the buffer). See portal/services/kb/search_log_buffer.py.
    SEARCH_LOG_BUFFER = os.environ.get("SEARCH_LOG_BUFFER", "auto")
    CSAT_EXPIRY_DAYS = int(os.environ.get("CSAT_EXPIRY_DAYS", "14"))  # a satisfaction survey's life after a solve
    SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "5000"))  # then a 503 with Retry-After

    # Jobs and notifications (workers/): RQ when REDIS_URL is set, else in-process threads (embedded default).
    JOBS_RELAY_ON_COMMIT = _bool("JOBS_RELAY_ON_COMMIT", True)  # hand new outbox rows over after each commit
    JOBS_EMBEDDED_SCHEDULER = _bool("JOBS_EMBEDDED_SCHEDULER", True)  # periodic work in-process without Redis
    JOBS_MAX_ATTEMPTS = int(os.environ.get("JOBS_MAX_ATTEMPTS", "5"))
    JOBS_STALE_AFTER = int(os.environ.get("JOBS_STALE_AFTER", "600"))  # seconds before an "enqueued" row is re-run
    # Seconds before a send still "sending" (its worker died mid-send) is retried with the same Message-ID /
    # idempotency key; keep it above the job timeout (120 s) so a live send is never taken over.
    DELIVERY_UNCERTAIN_AFTER = float(os.environ.get("DELIVERY_UNCERTAIN_AFTER", "300"))
    # Workers and the scheduler wait for Redis when it is down, retrying with backoff from 1 s up to this cap.
    JOBS_REDIS_BACKOFF_MAX = float(os.environ.get("JOBS_REDIS_BACKOFF_MAX", "30"))
    PORTAL_URL = os.environ.get("PORTAL_URL", "http://127.0.0.1:5000")  # links in emails and Slack messages
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None  # unset: emails are written to instance/mail/*.eml
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_FROM = os.environ.get("MAIL_FROM", "ESG Support <support@support.esg.test>")
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "30"))
    SLACK_WEBHOOK_URL = os.environ.get("SLACK_WEBHOOK_URL") or None
    SLACK_ALLOWED_HOSTS = tuple(
        h.strip().lower() for h in os.environ.get("SLACK_ALLOWED_HOSTS", "hooks.slack.com").split(",") if h.strip()
    )

    # Email in (portal/services/mail): the support address mail is sent from and to, the mailbox poll, limits.
    SUPPORT_ADDRESS = os.environ.get("SUPPORT_ADDRESS") or None  # default: the address in MAIL_FROM
    IMAP_HOST = os.environ.get("IMAP_HOST") or None  # unset: no mailbox poll
    IMAP_PORT = int(os.environ.get("IMAP_PORT", "993"))
    IMAP_USER = os.environ.get("IMAP_USER") or None
    IMAP_PASSWORD = os.environ.get("IMAP_PASSWORD") or None
    IMAP_FOLDER = os.environ.get("IMAP_FOLDER", "INBOX")
    IMAP_TLS = os.environ.get("IMAP_TLS", "ssl")  # ssl (port 993), starttls, or none (a local test server only)
    IMAP_POLL_SECONDS = int(os.environ.get("IMAP_POLL_SECONDS", "60"))
    IMAP_BATCH = int(os.environ.get("IMAP_BATCH", "200"))  # messages fetched per poll
    MAIL_MAX_MESSAGE_BYTES = int(os.environ.get("MAIL_MAX_MESSAGE_BYTES", str(30 * 1024 * 1024)))  # beyond: quarantine
    MAIL_RAW_MAX = int(os.environ.get("MAIL_RAW_MAX", str(30 * 1024 * 1024)))  # raw bytes kept per message
    # An unknown sender whose domain is no organization's: "accept" files as an unverified customer, "quarantine"
    MAIL_UNKNOWN_SENDERS = os.environ.get("MAIL_UNKNOWN_SENDERS", "accept")
    MAIL_AUTO_REPLY_CAP = int(os.environ.get("MAIL_AUTO_REPLY_CAP", "3"))  # automatic replies per sender ...
    MAIL_AUTO_REPLY_WINDOW_HOURS = int(os.environ.get("MAIL_AUTO_REPLY_WINDOW_HOURS", "24"))  # ... in this window
    MAIL_MERGE_SUGGEST_DAYS = int(os.environ.get("MAIL_MERGE_SUGGEST_DAYS", "14"))  # "recent" for merge suggestions
    # Attachments: stored outside the static folder, type from the content, an allow-list, caps per file/message.
    ATTACHMENT_DIR = os.environ.get("ATTACHMENT_DIR") or str(INSTANCE_DIR / "attachments")
    ATTACHMENT_MAX_BYTES = int(os.environ.get("ATTACHMENT_MAX_BYTES", str(25 * 1024 * 1024)))
    ATTACHMENT_MAX_TOTAL_BYTES = int(os.environ.get("ATTACHMENT_MAX_TOTAL_BYTES", str(40 * 1024 * 1024)))
    ATTACHMENT_MAX_FILES = int(os.environ.get("ATTACHMENT_MAX_FILES", "10"))
    # Types accepted, as detected from the content (comma-separated). Never HTML, SVG, scripts or executables.
    ATTACHMENT_TYPES = os.environ.get(
        "ATTACHMENT_TYPES",
        "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/csv,application/json,"
        "text/xml,application/xml,message/rfc822,application/zip,application/msword,application/vnd.ms-excel,"
        "application/vnd.ms-powerpoint,"
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,"
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    )

    # Incidents, the status page and the portal's own health.
    INCIDENT_UPDATE_REMINDER_MINUTES = int(os.environ.get("INCIDENT_UPDATE_REMINDER_MINUTES", "60"))
    STATUS_CACHE_SECONDS = int(os.environ.get("STATUS_CACHE_SECONDS", "15"))
    STATUS_HISTORY_DAYS = int(os.environ.get("STATUS_HISTORY_DAYS", "90"))
    SPIKE_THRESHOLD = int(os.environ.get("SPIKE_THRESHOLD", "5"))  # similar tickets ...
    SPIKE_WINDOW_MINUTES = int(os.environ.get("SPIKE_WINDOW_MINUTES", "30"))  # ... arriving within this window
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None  # /metrics needs "Authorization: Bearer <token>" ...
    METRICS_ALLOW = os.environ.get("METRICS_ALLOW", "")  # ... or a client address in these addresses / networks
    HEALTH_HEARTBEAT_STALE_SECONDS = int(os.environ.get("HEALTH_HEARTBEAT_STALE_SECONDS", "120"))
    HEALTH_OUTBOX_LAG_SECONDS = int(os.environ.get("HEALTH_OUTBOX_LAG_SECONDS", "300"))
    HEALTH_INDEX_LAG_SECONDS = int(os.environ.get("HEALTH_INDEX_LAG_SECONDS", "600"))

    # The embeddable widget (portal/services/widget): widget sessions replace cookies inside the frame.
    WIDGET_SESSION_SECONDS = int(os.environ.get("WIDGET_SESSION_SECONDS", "7200"))
    WIDGET_IDENTITY_MAX_AGE_SECONDS = int(os.environ.get("WIDGET_IDENTITY_MAX_AGE_SECONDS", "600"))
    WIDGET_CLOCK_SKEW_SECONDS = int(os.environ.get("WIDGET_CLOCK_SKEW_SECONDS", "60"))

    # Live chat (portal/services/chat): open in the hours of the calendar named CHAT_CALENDAR (24/7 when there is
    # none) while an agent's console heartbeat is fresh and they have a free seat; streams end after a while.
    CHAT_CALENDAR = os.environ.get("CHAT_CALENDAR", "Chat")
    CHAT_SEATS = int(os.environ.get("CHAT_SEATS", "3"))  # concurrent chats per agent (per-agent override possible)
    CHAT_PRESENCE_TIMEOUT_SECONDS = int(os.environ.get("CHAT_PRESENCE_TIMEOUT_SECONDS", "45"))
    CHAT_HEARTBEAT_SECONDS = int(os.environ.get("CHAT_HEARTBEAT_SECONDS", "15"))  # the console's heartbeat
    CHAT_IDLE_MINUTES = int(os.environ.get("CHAT_IDLE_MINUTES", "10"))  # no message for this long: ended
    CHAT_WAIT_MINUTES = int(os.environ.get("CHAT_WAIT_MINUTES", "5"))  # nobody accepted in this time: a ticket
    CHAT_MESSAGE_MAX = int(os.environ.get("CHAT_MESSAGE_MAX", "2000"))  # characters per message
    CHAT_RATE_LIMIT = os.environ.get("CHAT_RATE_LIMIT", "30 per minute")  # messages per visitor address
    CHAT_STREAM_SECONDS = float(os.environ.get("CHAT_STREAM_SECONDS", "25"))  # then the browser reconnects
    CHAT_STREAM_POLL_SECONDS = float(os.environ.get("CHAT_STREAM_POLL_SECONDS", "0.75"))  # database reads
    CHAT_POLL_SECONDS = int(os.environ.get("CHAT_POLL_SECONDS", "3"))  # the fallback without a stream
    CHAT_TYPING_SECONDS = int(os.environ.get("CHAT_TYPING_SECONDS", "6"))  # "is typing" shown this long

    # Phone support (portal/services/phone).
    # The regional support lines ("REGION=number, ..."; letters are dialled as on a keypad), in the order shown
    # when the viewer's region is unknown, and the time zone whose business hours each line keeps.
    PHONE_LINES = os.environ.get("PHONE_LINES", "US=+1-800-ESG-HELP, UK=+44-20-ESG-HELP, AU=+61-2-ESG-HELP")
    PHONE_LINE_ZONES = os.environ.get("PHONE_LINE_ZONES", "US=America/New_York, UK=Europe/London, AU=Australia/Sydney")
    PHONE_HOURS = os.environ.get("PHONE_HOURS", "08:00-18:00")  # local time of each line
    PHONE_DAYS = os.environ.get("PHONE_DAYS", "mon,tue,wed,thu,fri")  # weekends: the emergency hotline only
    # Which line is the viewer's: by the organization's region, else by the start of the viewer's time zone name.
    PHONE_REGION_LINES = os.environ.get("PHONE_REGION_LINES", "AMER=US, EMEA=UK, APAC=AU")
    PHONE_REGION_ZONES = os.environ.get(
        "PHONE_REGION_ZONES",
        "America/=US, US/=US, Canada/=US, Europe/=UK, Africa/=UK, Atlantic/=UK, Australia/=AU, Asia/=AU, Pacific/=AU",
    )
    PHONE_EMERGENCY_NUMBER = os.environ.get("PHONE_EMERGENCY_NUMBER", "+1-800-ESG-CRIT")  # 24/7/365
    PHONE_CALLS_PER_PAGE = int(os.environ.get("PHONE_CALLS_PER_PAGE", "50"))

    # The emergency hotline and on-call paging (portal/services/paging).
    HOTLINE_NUMBER = os.environ.get("HOTLINE_NUMBER", "+1-800-ESG-CRIT")  # shown to customers and on the pages
    HOTLINE_WEBHOOK_SECRET = os.environ.get("HOTLINE_WEBHOOK_SECRET") or None  # unset: the webhook refuses all calls
    HOTLINE_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("HOTLINE_WEBHOOK_TOLERANCE_SECONDS", "300"))
    PAGE_ACK_MINUTES = int(os.environ.get("PAGE_ACK_MINUTES", "5"))  # unacknowledged this long → the next step
    PAGE_ACK_LINK_HOURS = int(os.environ.get("PAGE_ACK_LINK_HOURS", "24"))  # the emailed / texted link's lifetime
    SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL") or None  # JSON POST {to, text}; unset: no SMS pages
    SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN") or None  # sent as "Authorization: Bearer <token>"

    # Outgoing webhooks (portal/services/webhooks).
    # Each POST waits this long; failed ones (network, 5xx, 429) are retried after these delays in seconds (with
    # jitter; the last repeats) until WEBHOOK_MAX_ATTEMPTS. Plain http and hosts that resolve to loopback, private,
    # link-local or other internal addresses are refused unless listed in WEBHOOK_ALLOW_HOSTS (comma-separated exact
    # host names or CIDR networks, e.g. "localhost,10.20.0.0/16", for development and internal receivers).
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
    WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
    WEBHOOK_RETRY_SCHEDULE = os.environ.get("WEBHOOK_RETRY_SCHEDULE", "60,300,1800,7200,21600")
    WEBHOOK_ALLOW_HOSTS = tuple(
        h.strip().lower() for h in os.environ.get("WEBHOOK_ALLOW_HOSTS", "").split(",") if h.strip()
    )
    WEBHOOK_MAX_REDIRECTS = int(os.environ.get("WEBHOOK_MAX_REDIRECTS", "3"))


class TestConfig(Config):
    TESTING = True
    ENV_NAME = "testing"
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"  # same algorithm, cheaper work factor for speed
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    # Most tests sign managers and admins in with a password only; the two-factor tests set the production default.
    TWO_FACTOR_REQUIRED_ROLES = ""
    INDEX_DIR = os.environ.get("TEST_INDEX_DIR", "")  # empty: a temporary directory per test session
    JOBS_RELAY_ON_COMMIT = False  # tests hand rows over explicitly (tests/ops turn it on)
    JOBS_EMBEDDED_SCHEDULER = False
    MAIL_SERVER = None
    SLACK_WEBHOOK_URL = None
    IMAP_HOST = None
    ATTACHMENT_DIR = ""  # empty: a directory under the test session's instance directory
    METRICS_TOKEN = "test-metrics-token"
    # The emergency hotline and on-call paging.
    HOTLINE_WEBHOOK_SECRET = "test-hotline-secret"
    SMS_GATEWAY_URL = None
