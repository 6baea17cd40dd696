"""One web process of the platform on a port: the chosen ASGI server (ASGI_SERVER,
scripts/asgi_servers.py), exec'd in place — what systemd's xueji-web@<port>.service runs,
so that the units and `make serve` start the same command.

    .venv/bin/python scripts/web.py 8001
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import asgi_servers  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: web.py <port>")
    os.chdir(Path(__file__).resolve().parent.parent)
    argv = asgi_servers.argv(asgi_servers.chosen(), int(sys.argv[1]))
    os.execv(argv[0], argv)  # noqa: S606 - our own server binary from the venv
