from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Support tickets")

    def ready(self):
        from accounts.signals import unit_changed
        from tickets import unit_changes

        unit_changed.connect(unit_changes.unit_changed, dispatch_uid="tickets.unit_changed")

        from core import filters
        from tickets import selectors

        filters.register("ticket.changed", selectors.wants_ticket_event)
        filters.register("ticket.warning", selectors.wants_ticket_event)

        from tickets import jobs

        jobs.register_kinds()  # the long export (core/jobs.py, issue 16)

        from core import todo
        from tickets import todo as ticket_todo

        todo.register(
            key="tickets.waiting",
            part=todo.Part.MINE,
            order=20,
            template="tickets/todo_waiting.html",
            read=ticket_todo.waiting_on,
        )
        todo.register(
            key="tickets.lag",
            part=todo.Part.LAG,
            order=20,
            template="tickets/todo_lag.html",
            read=ticket_todo.lagging_units,
        )
