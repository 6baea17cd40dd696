"""Django settings of peer (a), the Channels-tutorial chat (peer_tutorial.py): the
platform's own settings (database, sessions, the accounts user model, SECRET_KEY from the
environment), so AuthMiddlewareStack finds the same logged-in users the platform does,
as the tutorial's consumer gets `scope["user"]`; the same channel layer class and host
options on REDIS_URL under a prefix of its own."""

import copy

from config.settings import *  # noqa: F403
from config.settings import CHANNEL_LAYERS as _PLATFORM_LAYERS

ASGI_APPLICATION = "peer_tutorial.application"
CHANNEL_LAYERS = copy.deepcopy(_PLATFORM_LAYERS)
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "tutorial:ch"
