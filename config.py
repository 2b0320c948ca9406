"""Configuration classes. Every setting comes from an environment variable (or `.env`)."""
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

# Where `.env` and instance/ (CROWDFUND_INSTANCE_DIR's default) are: in a checkout, next to this file and
# the Makefile; installed from a wheel (this file in site-packages), the directory the app is started from.
_HERE = Path(__file__).resolve().parent
BASE_DIR = _HERE if (_HERE / "setup.cfg").is_file() else Path.cwd()
load_dotenv(BASE_DIR / ".env")


def _env(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_hosts(name) -> list[str]:
    """A comma-separated list of host names (no ports), lower case."""
    return [host.strip().lower() for host in str(_env(name, "")).split(",") if host.strip()]


def default_trusted_hosts(public_url: str) -> list[str]:
    """Development and tests: the host of PUBLIC_URL, 127.0.0.1 and localhost (the test client's)."""
    return list(dict.fromkeys([urlsplit(public_url).hostname or "127.0.0.1", "127.0.0.1", "localhost"]))


def _env_bool(name, default=False):
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    INSTANCE_DIR = Path(_env("CROWDFUND_INSTANCE_DIR", BASE_DIR / "instance"))
    SECRET_KEY = _env("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'crowdfund.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", 12 * 1024 * 1024))
    UPLOAD_DIR = Path(_env("UPLOAD_DIR", INSTANCE_DIR / "uploads"))
    # Pillow's own decompression-bomb guard is raised to an error at this many pixels.
    MAX_IMAGE_PIXELS = int(_env("MAX_IMAGE_PIXELS", 40_000_000))
    # Largest image file accepted; a request body over MAX_CONTENT_LENGTH gets the 413 page.
    MAX_IMAGE_BYTES = int(_env("MAX_IMAGE_BYTES", 10 * 1024 * 1024))
    # Where image files are kept: "local" (UPLOAD_DIR) or "s3" (any S3-compatible bucket).
    MEDIA_STORAGE = _env("MEDIA_STORAGE", "local")
    S3_BUCKET = _env("S3_BUCKET")
    S3_PREFIX = _env("S3_PREFIX", "")
    S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL")  # empty for AWS; e.g. http://127.0.0.1:9000 for MinIO
    S3_REGION = _env("S3_REGION")
    S3_ACCESS_KEY_ID = _env("S3_ACCESS_KEY_ID")
    S3_SECRET_ACCESS_KEY = _env("S3_SECRET_ACCESS_KEY")
    # When the bucket is readable by browsers (or behind a CDN): pages link there directly.
    S3_PUBLIC_URL = _env("S3_PUBLIC_URL", "")

    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    # Locales with a catalogue; add "zh_Hans_CN" once its translation is done (docs/architecture.md).
    LANGUAGES = ["en"]

    MAIL_BACKEND = _env("MAIL_BACKEND", "smtp" if _env("MAIL_SERVER") else "log")
    MAIL_SERVER = _env("MAIL_SERVER")
    MAIL_PORT = int(_env("MAIL_PORT", 25))
    MAIL_USERNAME = _env("MAIL_USERNAME")
    MAIL_PASSWORD = _env("MAIL_PASSWORD")
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS")
    MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "crowdfund <noreply@crowdfund.localhost>")
    # Notification emails (updates, results, follows) are sent by Celery tasks, this many recipients per task.
    NOTIFY_BATCH_SIZE = int(_env("NOTIFY_BATCH_SIZE", 100))

    # Rate limits (Flask-Limiter). memory:// counts per process; with several gunicorn workers use
    # Redis (redis://...) so a limit counts every worker's requests.
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True  # Retry-After and X-RateLimit-* on limited routes
    # Redis away (stopped or hung): count in this process's memory, with a warning in the log, rather
    # than fail the request; Redis is asked again every RATELIMIT_STORAGE_RECHECK_SECONDS and used as
    # soon as it answers (crowdfund/extensions.py). Each Redis call gives up after half a second.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = _env_bool("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    RATELIMIT_STORAGE_RECHECK_SECONDS = float(_env("RATELIMIT_STORAGE_RECHECK_SECONDS", 5))
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}  # redis:// storage
    RATELIMIT_SWALLOW_ERRORS = True  # a limit that cannot be counted at all is logged, never a 500
    LOGIN_RATE_LIMIT = _env("LOGIN_RATE_LIMIT", "10 per minute")
    SIGNUP_RATE_LIMIT = _env("SIGNUP_RATE_LIMIT", "10 per hour")
    COMMENT_RATE_LIMIT = _env("COMMENT_RATE_LIMIT", "5 per minute")

    EMAIL_TOKEN_MAX_AGE = int(_env("EMAIL_TOKEN_MAX_AGE", 3 * 24 * 3600))
    RESET_TOKEN_MAX_AGE = int(_env("RESET_TOKEN_MAX_AGE", 3600))

    # Closes campaigns whose deadline passed, in a thread of the web process, when no
    # Celery beat runs (the default single-machine run).
    IN_PROCESS_TICKER = _env_bool("IN_PROCESS_TICKER", not _env("CELERY_BROKER_URL"))
    TICK_INTERVAL_SECONDS = float(_env("TICK_INTERVAL_SECONDS", 30))

    # Background work (crowdfund/tasks.py). Without a broker, tasks run in-process at once; with
    # one (redis://...), `celery -A crowdfund.celery_app worker` runs them and `... beat` ticks.
    CELERY_BROKER_URL = _env("CELERY_BROKER_URL")
    CELERY_RESULT_BACKEND = _env("CELERY_RESULT_BACKEND")
    # How committed domain events (crowdfund/outbox.py) are delivered: "celery" (a worker; the default
    # with a broker), "thread" (a dispatcher thread in the web process; the default without one) or
    # "inline" (at once after commit, in the committing thread: the tests).
    OUTBOX_DISPATCH = _env("OUTBOX_DISPATCH")
    # Delivered events are kept this many days (to see what was sent), then the periodic job deletes them.
    OUTBOX_KEEP_DAYS = int(_env("OUTBOX_KEEP_DAYS", 7))

    # Stripe. Without a secret key the app talks to the localstripe stand-in at STRIPE_API_BASE
    # (started by `make run` and by the tests) and says "test mode" on every page.
    STRIPE_SECRET_KEY = _env("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = _env("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = _env("STRIPE_WEBHOOK_SECRET")
    STRIPE_STANDIN_URL = _env("STRIPE_STANDIN_URL", "http://127.0.0.1:8420")
    STRIPE_JS_URL = _env("STRIPE_JS_URL")
    # Every Stripe call gives up after these many seconds (connect, read) and is retried this many times
    # on a network error (same idempotency key): a slow Stripe never holds a request for 80 s.
    STRIPE_CONNECT_TIMEOUT = float(_env("STRIPE_CONNECT_TIMEOUT", 5))
    STRIPE_READ_TIMEOUT = float(_env("STRIPE_READ_TIMEOUT", 10))
    STRIPE_NETWORK_RETRIES = int(_env("STRIPE_NETWORK_RETRIES", 2))
    # The platform keeps this share of collected money (basis points: 500 = 5 %).
    PLATFORM_FEE_BP = int(_env("PLATFORM_FEE_BP", 500))
    # Payouts (crowdfund/payouts): the share of the founder's money released at success without review
    # (basis points; 0 = none), and whether a founder needs a Connect account able to receive
    # transfers before launching (set REQUIRE_PAYOUT_ACCOUNT=0 to relax this, e.g. for a demo).
    FIRST_TRANCHE_BP = int(_env("FIRST_TRANCHE_BP", 2000))
    REQUIRE_PAYOUT_ACCOUNT = _env_bool("REQUIRE_PAYOUT_ACCOUNT", True)
    # A backer whose card failed at the deadline has this long to fix it before the pledge is dropped.
    FIX_WINDOW_DAYS = int(_env("FIX_WINDOW_DAYS", 7))
    FIX_REMINDER_HOURS = int(_env("FIX_REMINDER_HOURS", 48))
    PLEDGE_RATE_LIMIT = _env("PLEDGE_RATE_LIMIT", "20 per minute")

    # Whole-page cache of public pages for visitors who are not logged in (crowdfund/page_cache.py):
    # kept at most this many seconds, made stale by any write; 0 turns it off. Redis (shared by every
    # worker) when CACHE_REDIS_URL is set, else in the process (one process only: the default run).
    PAGE_CACHE_SECONDS = int(_env("PAGE_CACHE_SECONDS", 30))
    # ... and a page whose clock-driven text changes by the hour or slower (a campaign with more than an
    # hour left, or ended): writes make pages stale at once whatever these say; they only bound "3 days left".
    PAGE_CACHE_SLOW_CLOCK_SECONDS = int(_env("PAGE_CACHE_SLOW_CLOCK_SECONDS", 300))
    # While one request makes a stale page again, others get the last one, if it is no older than this.
    PAGE_CACHE_STALE_SECONDS = int(_env("PAGE_CACHE_STALE_SECONDS", 60))
    CACHE_REDIS_URL = _env("CACHE_REDIS_URL")
    # After a call to that Redis failed (0.5 s socket timeouts), each process renders pages without the
    # cache for this many seconds before it tries Redis again (crowdfund/page_cache.py).
    PAGE_CACHE_RETRY_SECONDS = float(_env("PAGE_CACHE_RETRY_SECONDS", 5))
    PAGE_CACHE_PREFIX = _env("PAGE_CACHE_PREFIX", "crowdfund:")  # keys in Redis: two sites, two prefixes

    # How many proxies (nginx, a load balancer) stand in front of the app and set X-Forwarded-For
    # and X-Forwarded-Proto; 0 trusts no such header (then rate limits count the proxy's address).
    PROXY_COUNT = int(_env("PROXY_COUNT", 0))
    # Strict-Transport-Security max-age in seconds (0: no header; production sends a year).
    HSTS_SECONDS = int(_env("HSTS_SECONDS", 0))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A sign-in lasts this long at most, "remember me" or not; then the browser signs in again, and
    # the periodic job deletes its login session row (crowdfund/accounts/services.py).
    LOGIN_SESSION_DAYS = int(_env("LOGIN_SESSION_DAYS", 365))
    REMEMBER_COOKIE_DURATION = timedelta(days=LOGIN_SESSION_DAYS)
    LOGIN_IDLE_DAYS = int(_env("LOGIN_IDLE_DAYS", 30))  # and a browser unused this long signs in again
    WTF_CSRF_TIME_LIMIT = None
    PAGE_SIZE = 12
    PASSWORD_HASH_METHOD = "scrypt"
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    # "json": one JSON object per log line with the request id (crowdfund/logs.py); "text": plain.
    LOG_FORMAT = _env("LOG_FORMAT", "text")
    # Base of every absolute link (emails, share links, the embed snippet, the widget, the Atom feed,
    # Stripe's return URLs), never the request's Host (crowdfund/templating.py absolute_url).
    PUBLIC_URL = _env("PUBLIC_URL", "http://127.0.0.1:5000")
    # Host names this app answers to (comma-separated; ".example.org" also allows its subdomains); a
    # request for any other Host gets a 400 (Flask's TRUSTED_HOSTS). PUBLIC_URL's host is always added.
    TRUSTED_HOSTS = _env_hosts("TRUSTED_HOSTS") or default_trusted_hosts(PUBLIC_URL)

    # Risk early-warning (crowdfund/risk/rules.py RiskSettings; docs/operations.md "Risk early-warning").
    RISK_HOLD_THRESHOLD = int(_env("RISK_HOLD_THRESHOLD", 50))  # releases held at or above this score
    RISK_NEW_ACCOUNT_DAYS = int(_env("RISK_NEW_ACCOUNT_DAYS", 30))
    RISK_LARGE_GOAL_RATIO = float(_env("RISK_LARGE_GOAL_RATIO", 3.0))  # goal over the category median
    RISK_DUPLICATE_SIMILARITY = float(_env("RISK_DUPLICATE_SIMILARITY", 0.8))
    RISK_IMAGE_DISTANCE = int(_env("RISK_IMAGE_DISTANCE", 6))  # perceptual-hash bits
    RISK_BUDGET_MISMATCH_RATIO = float(_env("RISK_BUDGET_MISMATCH_RATIO", 0.25))
    RISK_BUDGET_DOMINANT_SHARE = float(_env("RISK_BUDGET_DOMINANT_SHARE", 0.8))
    RISK_SAME_SOURCE_PLEDGES = int(_env("RISK_SAME_SOURCE_PLEDGES", 5))
    RISK_FAILED_SETUPS_FROM_ONE_IP = int(_env("RISK_FAILED_SETUPS_FROM_ONE_IP", 5))
    RISK_SHARED_CARD_BACKERS = int(_env("RISK_SHARED_CARD_BACKERS", 3))
    RISK_BURST_RATIO = float(_env("RISK_BURST_RATIO", 10.0))
    RISK_BURST_MINIMUM = int(_env("RISK_BURST_MINIMUM", 20))
    RISK_SILENCE_DAYS = int(_env("RISK_SILENCE_DAYS", 45))
    RISK_SPIKE_7D = int(_env("RISK_SPIKE_7D", 5))


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    # Still scrypt, with a work factor low enough for hundreds of test accounts.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    IN_PROCESS_TICKER = False
    CELERY_BROKER_URL = None  # tasks run in-process; tests/test_celery_worker.py starts a real worker
    MAIL_BACKEND = "memory"
    OUTBOX_DISPATCH = "inline"
    RATELIMIT_ENABLED = False
    REQUIRE_PAYOUT_ACCOUNT = False  # tests that need the rule turn it on
    PAGE_CACHE_SECONDS = 0  # on for tests marked page_cache and the browser tests (tests/conftest.py)


class ProductionConfig(Config):
    """What a deployment runs (docs/operations.md). It refuses to start while anything in
    missing_settings() is missing, and says what; `flask crowdfund check-config` prints the same."""

    # Cookies only over HTTPS, and the session and remember cookies with the __Host- prefix
    # (browsers then refuse them unless Secure, for this host only, Path=/).
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    REMEMBER_COOKIE_NAME = "__Host-remember_token"
    HSTS_SECONDS = int(_env("HSTS_SECONDS", 365 * 24 * 3600))
    # Several workers must share the page cache (and its generation): the rate-limit Redis by default.
    CACHE_REDIS_URL = _env("CACHE_REDIS_URL", _env("RATELIMIT_STORAGE_URI") if str(
        _env("RATELIMIT_STORAGE_URI", "")).startswith(("redis://", "rediss://")) else None)
    IN_PROCESS_TICKER = _env_bool("IN_PROCESS_TICKER", False)
    LOG_FORMAT = _env("LOG_FORMAT", "json")
    TRUSTED_HOSTS = _env_hosts("TRUSTED_HOSTS")  # no default: missing_settings() asks for it
    # SQLAlchemy's pool of psycopg connections, per worker process: checked before use (so a restart of
    # PostgreSQL costs no request an error), renewed hourly; a new connection gives up after
    # DB_CONNECT_TIMEOUT seconds (a database host that accepts and never answers: the page is a 503).
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_size": int(_env("DB_POOL_SIZE", 5)),
        "max_overflow": int(_env("DB_MAX_OVERFLOW", 5)),
        "pool_timeout": int(_env("DB_POOL_TIMEOUT", 10)),
        "pool_pre_ping": True,
        "pool_recycle": 3600,
        **({"connect_args": {"connect_timeout": int(_env("DB_CONNECT_TIMEOUT", 5))}}
           if str(_env("DATABASE_URL", "")).startswith(("postgres://", "postgresql")) else {}),
    }

    @classmethod
    def missing_settings(cls):
        """Each essential setting that is missing, with what it is for."""
        missing = []
        if _env("SECRET_KEY") in (None, "dev-only-not-secret"):
            missing.append("SECRET_KEY (signs sessions and email links; a long random string)")
        if not _env("DATABASE_URL"):
            missing.append("DATABASE_URL (postgresql://user:password@host/dbname)")
        if not _env("CELERY_BROKER_URL"):
            missing.append("CELERY_BROKER_URL (redis://host:6379/0 for the Celery worker and beat)")
        if _env("RATELIMIT_STORAGE_URI", "memory://").startswith("memory://"):
            missing.append("RATELIMIT_STORAGE_URI (redis://host:6379/1, so limits count across workers)")
        if not _env("PUBLIC_URL"):
            missing.append("PUBLIC_URL (https://your.domain, the base of every absolute link)")
        if not _env_hosts("TRUSTED_HOSTS"):
            missing.append("TRUSTED_HOSTS (your.domain[,other.name]: the Host names answered; others get a 400)")
        if not _env("MAIL_SERVER") and _env("MAIL_BACKEND") != "log":
            missing.append("MAIL_SERVER (SMTP host for receipts and password resets; "
                           "MAIL_BACKEND=log writes emails to the log instead)")
        if not _env_bool("STRIPE_STANDIN"):
            for name, what in (("STRIPE_SECRET_KEY", "sk_live_... or sk_test_..."),
                               ("STRIPE_PUBLISHABLE_KEY", "pk_live_... or pk_test_..."),
                               ("STRIPE_WEBHOOK_SECRET", "whsec_... of the webhook endpoint")):
                if not _env(name):
                    missing.append(f"{name} ({what}; STRIPE_STANDIN=1 runs in test mode against the stand-in)")
        if _env("MEDIA_STORAGE") == "s3" and not _env("S3_BUCKET"):
            missing.append("S3_BUCKET (MEDIA_STORAGE is s3)")
        return missing


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env():
    """The config class named by CROWDFUND_ENV (development when unset)."""
    name = _env("CROWDFUND_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"CROWDFUND_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from None
