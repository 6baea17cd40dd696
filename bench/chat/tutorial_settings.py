"""Django settings of peer (a), the minimal Channels chat (peer_tutorial.py): no
database, no sessions, no auth; the platform's channel layer class on REDIS_URL."""

import os

SECRET_KEY = "bench-chat-tutorial"  # noqa: S105 (no session or signing in this peer)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
DATABASES = {}
USE_TZ = True
ASGI_APPLICATION = "peer_tutorial.application"
CHANNEL_LAYERS = {
    "default": {
        # The same class and host options as config/settings.py.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ["REDIS_URL"],
                    "socket_timeout": None,
                    "max_connections": 10000,
                }
            ],
            "prefix": "tutorial:ch",
        },
    }
}
