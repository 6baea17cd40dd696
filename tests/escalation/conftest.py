"""Escalation tests share the ticket fixtures (tests/tickets/conftest.py)."""

from tests.tickets.conftest import (  # noqa: F401
    _fast_password_hasher,
    _media_root,
    desk,
    media_files,
)
