"""Browser tests drive Debian's Chromium; install it when it is missing and we may."""

import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def main() -> int:
    if os.path.exists(CHROMIUM):
        return 0
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-qq"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "-qq", "chromium"], check=True, env=env)
        if os.path.exists(CHROMIUM):
            return 0
    print(
        f"Chromium is not at {CHROMIUM}: install Debian's `chromium` package "
        "(or set CHROMIUM_PATH); the browser tests need it.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
