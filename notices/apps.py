from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("Notices")

    def ready(self):
        from accounts.signals import unit_changed
        from notices import unit_changes

        unit_changed.connect(unit_changes.unit_changed, dispatch_uid="notices.unit_changed")

        from core import filters
        from notices import selectors

        filters.register("notice.reminder", selectors.reminder_applies)

        from core import todo
        from notices import todo as notice_todo

        todo.register(
            key="notices.acks",
            part=todo.Part.MINE,
            order=10,
            template="notices/todo_acks.html",
            read=notice_todo.acks_due,
        )
        todo.register(
            key="notices.lag",
            part=todo.Part.LAG,
            order=10,
            template="notices/todo_lag.html",
            read=notice_todo.lagging_units,
        )

        from accounts import demo

        demo.register("notices.demo.seed")
