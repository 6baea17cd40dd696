from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Units and accounts")

    def ready(self):
        from accounts import signals  # noqa: F401
        from accounts.scoping import (
            manager_idle_deadline,
            socket_refusal,
            socket_session_refusal,
        )
        from core import sockets

        sockets.register_admission(socket_refusal)
        sockets.register_session_admission(socket_session_refusal)
        sockets.register_session_deadline(manager_idle_deadline)

        from accounts.services import SHEET_PURPOSE
        from core import keys

        keys.register("accounts.IssueBatch", "sheet", SHEET_PURPOSE)

        from accounts import jobs

        jobs.register_kinds()  # the long jobs (core/jobs.py, issue 16)
