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

        from core import todo
        from roll import todo as roll_todo

        todo.register(
            key="roll.records",
            part=todo.Part.MINE,
            order=30,
            template="roll/todo_records.html",
            read=roll_todo.open_records,
        )
        todo.register(
            key="roll.lag",
            part=todo.Part.LAG,
            order=30,
            template="roll/todo_lag.html",
            read=roll_todo.lagging_units,
        )
