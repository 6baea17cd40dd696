"""uvicorn as a gunicorn worker, configured as the platform runs it (scripts/asgi_servers.py).

gunicorn passes no uvicorn options on its command line; the worker class carries them.
"""

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "off",  # Django and Channels do not speak ASGI lifespan
        "ws_ping_interval": 25.0,
        "ws_ping_timeout": 20.0,
        "proxy_headers": True,
    }
