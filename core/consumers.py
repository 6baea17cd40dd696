"""The one WebSocket per browser tab. This first version only admits or refuses;
the notices issue adds typed events and resume."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts import scoping

# Close codes a client can act on (documented in docs/websocket.md).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_PASSWORD_CHANGE_REQUIRED = 4403


class PlatformConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not scoping.is_active_account(user):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if user.must_change_password:
            await self.close(code=CLOSE_PASSWORD_CHANGE_REQUIRED)
            return
        await self.accept()
        await self.send_json({"type": "hello", "account": user.username})

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "code": "unknown_type"})
            return
        await self.send_json({"type": "pong"})
