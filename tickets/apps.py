from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Support tickets")

    def ready(self):
        from core import filters
        from tickets import selectors

        filters.register("ticket.changed", selectors.wants_ticket_event)
        filters.register("ticket.warning", selectors.wants_ticket_event)
