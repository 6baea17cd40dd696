"""Peer (b), the ceiling: a raw `websockets` broadcast server, no Django, no channel layer.

Every text frame a client sends is broadcast as is to every connected client (the
sender included), with `websockets.broadcast` (no per-recipient await).

Run: .venv/bin/python bench/chat/peer_websockets.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from websockets.asyncio.server import broadcast, serve

CLIENTS: set = set()


async def handler(ws):
    CLIENTS.add(ws)
    try:
        async for message in ws:
            broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(ws)


async def main(port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # compression=None: daphne does not negotiate permessage-deflate either.
    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
