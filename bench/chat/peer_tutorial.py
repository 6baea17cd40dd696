"""Peer (a): the Channels tutorial's chat (part 3, the async consumer): one group,
`group_send` on every received frame, the handler forwards to the socket; behind
AllowedHostsOriginValidator and AuthMiddlewareStack as in the tutorial's asgi.py (the
session cookie gives `scope["user"]`). No storage. Settings: tutorial_settings.py (the
platform's settings and channel layer class).

Run (from bench/chat/, with the platform's environment): PYTHONPATH=../.. \\
    DJANGO_SETTINGS_MODULE=tutorial_settings ../../.venv/bin/daphne -b 127.0.0.1 -p 8001 \\
    peer_tutorial:application
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tutorial_settings")
django.setup()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "chat_bench"


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        await self.channel_layer.group_send(GROUP, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))


application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/", ChatConsumer.as_asgi())]))
        )
    }
)
