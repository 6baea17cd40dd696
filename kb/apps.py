from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KbConfig(AppConfig):
    name = "kb"
    verbose_name = _("Knowledge base")

    def ready(self):
        # A ticket raised closes its reporter's open suggestion session (deflection):
        # tickets knows nothing of kb, kb listens.
        from django.db.models.signals import post_save

        from kb import services
        from tickets.models import Ticket

        post_save.connect(services.ticket_saved, sender=Ticket, dispatch_uid="kb.ticket_saved")

        from accounts import demo

        demo.register("kb.demo.seed")
