"""Chat rooms, their membership rules, messages with per-room sequence numbers, and
each member's read position (unread = the room's last sequence − the member's)."""

from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Unit

# How long the author of a message may still edit or delete it.
EDIT_WINDOW = timedelta(minutes=10)


class RoomKind(models.TextChoices):
    REGION = "region", _("Region room")
    TOPIC = "topic", _("Topic room")
    DIRECT = "direct", _("Direct messages")


class Room(models.Model):
    """A region room follows the tree (its unit's subtree, filtered by a level policy);
    a topic room has rules and picked people; a direct room joins two accounts."""

    kind = models.CharField(max_length=10, choices=RoomKind.choices)
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100)
    # Region rooms: the comma-separated levels that belong (e.g. "county,school").
    levels = models.CharField(max_length=60, blank=True)
    dm_key = models.CharField(max_length=40, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    last_seq = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["unit"], condition=Q(kind="region"), name="one_region_room_per_unit"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def level_list(self) -> list[str]:
        return [lv for lv in self.levels.split(",") if lv]


class RoomRule(models.Model):
    """Topic room membership by unit subtree and levels."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="rules")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    path = models.CharField(max_length=60)
    levels = models.CharField(max_length=60)

    class Meta:
        indexes = [models.Index(fields=["path"])]

    def __str__(self) -> str:
        return f"{self.room_id}: {self.unit_id} {self.levels}"


class RoomMember(models.Model):
    """A person's state in a room: picked by hand (topic/direct), removed or muted by a
    manager, and the read position."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="members")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    picked = models.BooleanField(default=False)
    removed = models.BooleanField(default=False)
    muted = models.BooleanField(default=False)
    last_read_seq = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "account"], name="room_member_unique")
        ]
        indexes = [models.Index(fields=["account", "room"])]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.room_id}"


class Message(models.Model):
    """A message, stored before it is sent out; `seq` increases by one within its room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    author = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    body_html = models.TextField()
    mentions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The id the author's client gave the post (chat.send's `client_id`): a resend after
    # a lost `chat.sent` finds the stored message instead of storing a second copy.
    # NULL for a post without one (old clients, imports): the unique constraint skips it.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_once_per_author",
            ),
        ]
        ordering = ["room", "seq"]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq}"


def _file_path(instance, filename):
    import uuid

    return f"private/chat/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class MessageFile(models.Model):
    """A file sent with a message: the notices' rules (type, size, count), served only
    to the room's members through a view, never from a public URL."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="files")
    file = models.FileField(upload_to=_file_path, max_length=200)
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class MessageRevision(models.Model):
    """The text a message had before an edit or deletion; room managers can read it."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    replaced_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"revision of {self.message_id}"
