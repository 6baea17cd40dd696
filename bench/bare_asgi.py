"""A bare ASGI app: what an ASGI server costs by itself (bench/servers.py, the fixed cost).

HTTP: every request answers 200 with a 2-byte body, reading and ignoring any body.
WebSocket: accepts, then echoes each text frame. No Django, no middleware.
"""


async def application(scope, receive, send):
    if scope["type"] == "http":
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": message.get("text") or ""})
            else:
                return
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
