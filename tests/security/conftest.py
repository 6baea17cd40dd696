"""The security suite's fixtures, and the authorization matrix's summary line."""

import json
import time

from django.conf import settings

from tests.core.conftest import _own_channel_prefix  # noqa: F401
from tests.shared_fixtures import _fast_password_hasher, _media_root  # noqa: F401

_STARTED = time.time()


def pytest_terminal_summary(terminalreporter):
    """ "authz matrix: N cases, M entry points, R roles×levels, L leaks" when this run
    wrote the matrix's figures."""
    path = settings.VAR_DIR / "security" / "authz.json"
    try:
        if path.stat().st_mtime < _STARTED:
            return
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for section, f in sorted(data.items()):
        if f.get("written_at", 0) < _STARTED:
            continue  # figures of an earlier run
        terminalreporter.write_line(
            f"authz matrix ({section}): {f['cases']} cases, {f['entry_points']} entry points, "
            f"{f['roles_levels']} roles×levels + anonymous, {f['leaks']} leaks, "
            f"{f['wrong']} disagreements with the declared policy"
        )
