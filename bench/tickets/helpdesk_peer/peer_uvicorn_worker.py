"""uvicorn as a gunicorn worker for the peer, with the platform's options
(config/uvicorn_worker.py), so `http_create.py --server uvicorn` runs both alike."""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "off",
        "ws_ping_interval": 25.0,
        "ws_ping_timeout": 20.0,
        "proxy_headers": True,
    }
