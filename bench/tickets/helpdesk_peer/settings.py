"""Settings of the benchmark peer: django-helpdesk 2.6.1, as shipped, on PostgreSQL.

Run from this directory (daphne and manage.py put it on sys.path), so the modules
are the top-level `settings`, `urls` and `asgi`. Everything not set here is the
package's default: the peer is measured as a site would get it out of the box.

Where the platform has a matching knob, the same value is used so the comparison
is about the ticket code, not the configuration: DEBUG off, database connections
kept between requests (see _database below), database-backed sessions, Django's
default password hasher, Asia/Shanghai, zh-hans.
"""

import os
from urllib.parse import unquote, urlsplit

# Not DATABASE_URL: a side-by-side run sets that for the platform's own database.
DATABASE_URL = os.environ.get(
    "HELPDESK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_helpdesk"
)

SECRET_KEY = os.environ.get("HELPDESK_SECRET_KEY", "bench-helpdesk-peer-not-secret")
DEBUG = False  # also keeps Django from logging every query in memory under load
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    # The package's templates reverse admin URLs (system settings page).
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",  # helpdesk.lib builds absolute links from the Site
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
]
SITE_ID = 1

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "urls"
ASGI_APPLICATION = "asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str) -> dict:
    # Parsed by hand: dj-database-url is the platform's dependency, not the peer's.
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or "postgres"),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        # Connections kept between requests. Under ASGI, Django runs each request on a
        # thread of its own, so CONN_MAX_AGE keeps nothing (every request's new thread
        # opens a new connection); Django's documented way there is its psycopg pool
        # (Django ≥ 5.1), sized like the platform's HTTP_THREADS (8 per process).
        # HELPDESK_DB_POOL=0 turns it off, HELPDESK_CONN_MAX_AGE then applies.
        **(
            {"CONN_MAX_AGE": 0, "OPTIONS": {"pool": {"min_size": 8, "max_size": 8}}}
            if os.environ.get("HELPDESK_DB_POOL", "1") != "0"
            else {"CONN_MAX_AGE": int(os.environ.get("HELPDESK_CONN_MAX_AGE", "0"))}
        ),
    }


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"  # templates call {% static %}; nothing is served
MEDIA_ROOT = os.environ.get("HELPDESK_MEDIA_ROOT", "/tmp/bench-helpdesk-media")  # noqa: S108

# No mail leaves the machine, and none floods daphne's output either: whatever the
# peer would send is still built (that is part of its work), then dropped.
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.invalid"

LOGIN_URL = "helpdesk:login"
LOGIN_REDIRECT_URL = "helpdesk:home"

# Teams mode (the package's default) needs pinax-teams; the ticket path does not use it.
HELPDESK_TEAMS_MODE_ENABLED = False

# With DEBUG off Django prints nothing about a 500; the run's daphne log should.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
