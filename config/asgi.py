import os
import sys

import django

# Under load the socket server's event loop is busy in Python while each socket's
# database work (a chat post: ~20 GIL hand-offs) runs on asgiref's thread; at Python's
# default 5 ms switch interval the thread waits up to 5 ms at each hand-off, and posts
# queued for seconds (bench/chat, 20,000 deliveries/s offered at N=500: chat.sent p99
# 2.9 s at 5 ms, 0.25 s at 0.5 ms, at the same throughput).
sys.setswitchinterval(0.0005)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from core.handlers import PooledThreadASGIHandler  # noqa: E402

# Django's ASGIHandler, but each request's sync work on one of HTTP_THREADS long-lived
# threads, so the thread and its database connection are reused (core/handlers.py).
django_asgi_app = PooledThreadASGIHandler(settings.HTTP_THREADS)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from core.consumers import PlatformConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/", PlatformConsumer.as_asgi())]))
        ),
    }
)
