from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = _("Chat")

    def ready(self):
        from accounts.signals import unit_changed
        from chat import unit_changes

        unit_changed.connect(unit_changes.unit_changed, dispatch_uid="chat.unit_changed")

        from chat import handlers
        from core import sockets

        sockets.register_groups(handlers.room_groups, broadcast=True)
        sockets.register_frames(handlers.HANDLERS)
        for kind in ("chat.room_added", "chat.room_removed"):
            sockets.register_event_hook(kind, handlers.follow_room)

        from chat import todo as chat_todo
        from core import todo

        todo.register(
            key="chat.unread",
            part=todo.Part.MINE,
            order=40,
            template="chat/todo_unread.html",
            read=chat_todo.unread,
        )
