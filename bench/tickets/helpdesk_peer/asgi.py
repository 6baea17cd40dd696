"""Served by daphne (`daphne asgi:application`), like the platform: one process, and
Django's ASGI handler running the (sync) views."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

application = get_asgi_application()
