"""Browser tests drive Debian's Chromium, and the database-restart fault test runs a
PostgreSQL cluster of its own from Debian's server binaries; install them when they are
missing and we may (root with apt-get)."""

import glob
import os
import shutil
import subprocess
import sys

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


# A Chinese font, so screenshots of the pages show characters rather than boxes.
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def postgres_server_installed() -> bool:
    """The binaries tests/processes.PostgresCluster looks for."""
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl") or shutil.which("pg_ctl"))


def main() -> int:
    wanted = [
        pkg
        for pkg, path in (("chromium", CHROMIUM), ("fonts-wqy-microhei", CJK_FONT))
        if not os.path.exists(path)
    ]
    if not postgres_server_installed():
        wanted.append("postgresql")
    if not wanted:
        return 0
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-qq"], check=True, env=env)
        subprocess.run([apt, "install", "-y", "-qq", *wanted], check=True, env=env)
    if not postgres_server_installed():
        print(
            "PostgreSQL's server binaries (pg_ctl) are missing: install Debian's "
            "`postgresql` package; tests/faults/test_database_restart.py needs them.",
            file=sys.stderr,
        )
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
