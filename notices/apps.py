from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("Notices")

    def ready(self):
        from core import filters
        from notices import selectors

        filters.register("notice.reminder", selectors.reminder_applies)

        from accounts import demo

        demo.register("notices.demo.seed")
