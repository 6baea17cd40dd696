"""Browser tests drive Debian's Chromium; install it when it is missing and we may."""

import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


# A Chinese font, so screenshots of the pages show characters rather than boxes.
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def main() -> int:
    wanted = [
        pkg
        for pkg, path in (("chromium", CHROMIUM), ("fonts-wqy-microhei", CJK_FONT))
        if not os.path.exists(path)
    ]
    if not wanted:
        return 0
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-qq"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "-qq", *wanted], check=True, env=env)
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
