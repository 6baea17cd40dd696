from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = _("Escalation")

    def ready(self):
        # tickets sits below: it reaches routing, clocks and escalation through this.
        from escalation.desk import Desk
        from tickets import support

        support.register(Desk())
