from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RollConfig(AppConfig):
    name = "roll"
    verbose_name = _("Problem records")

    def ready(self):
        from accounts import demo

        demo.register("roll.demo.seed")

        from core import keys
        from roll.auth import KEY_PURPOSE

        keys.register("roll.RollKey", "secret_encrypted", KEY_PURPOSE)
