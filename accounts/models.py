"""The unit tree (单位), accounts, initial codes, issuance batches and the audit log."""

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A unit's path is its ancestors' codes and its own, each left-padded to this
# width, so "everything under X" is one indexed prefix query (path LIKE 'X%')
# and the child of X that a descendant sits under is a fixed-width substring.
SEGMENT = 10
MINISTRY_CODE = "000000"


def path_segment(code: str) -> str:
    return code.rjust(SEGMENT, "0")


class Level(models.TextChoices):
    MINISTRY = "ministry", _("Ministry")
    PROVINCE = "province", _("Province")
    PREFECTURE = "prefecture", _("Prefecture")
    COUNTY = "county", _("County")
    SCHOOL = "school", _("School")


# Which levels a unit of each level may hang under (municipalities and
# province-administered counties skip the prefecture level).
ALLOWED_PARENT_LEVELS = {
    Level.MINISTRY: (),
    Level.PROVINCE: (Level.MINISTRY,),
    Level.PREFECTURE: (Level.PROVINCE,),
    Level.COUNTY: (Level.PROVINCE, Level.PREFECTURE),
    Level.SCHOOL: (Level.COUNTY,),
}
LEVEL_ORDER = [Level.MINISTRY, Level.PROVINCE, Level.PREFECTURE, Level.COUNTY, Level.SCHOOL]


class Unit(models.Model):
    """A node of the administrative tree: the Ministry, a province, prefecture, county or school."""

    level = models.CharField(_("level"), max_length=12, choices=Level.choices, db_index=True)
    code = models.CharField(_("code"), max_length=10, unique=True)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=SEGMENT * 6, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The name's pinyin initials (石家庄市第一中学 → "sjzsdyzx"), for the unit picker's
    # search; written by services.unit_build and whenever the name changes.
    initials = models.CharField(max_length=100, blank=True, db_index=True, editable=False)
    # A school's type (小学, 初级中学, …), as proposed with the school (UnitChange).
    school_type = models.CharField(_("school type"), max_length=20, blank=True)
    # Set when an approved UnitChange closes the unit: it stays in the tree for the
    # record, its accounts are disabled, and audiences, pickers and rooms leave it out.
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["path"]
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        constraints = [
            models.CheckConstraint(
                condition=Q(parent__isnull=True, level="ministry")
                | Q(parent__isnull=False) & ~Q(level="ministry"),
                name="unit_only_ministry_is_root",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def ancestor_codes(self) -> list[str]:
        """Codes of this unit's ancestors, root first (not including itself)."""
        segments = [self.path[i : i + SEGMENT] for i in range(0, len(self.path), SEGMENT)]
        return [s.lstrip("0") or MINISTRY_CODE for s in segments[:-1]]

    @property
    def ancestor_paths(self) -> list[str]:
        """The paths of this unit and of every unit above it, root first."""
        return [self.path[:i] for i in range(SEGMENT, len(self.path) + 1, SEGMENT)]


class Role(models.TextChoices):
    STAFF = "staff", _("Staff")
    MANAGER = "manager", _("Manager")


class AccountManager(UserManager):
    pass


class Account(AbstractUser):
    """A person's login, bound to one unit, with the role staff (工作人员) or manager (管理人员)."""

    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="accounts",
        verbose_name=_("unit"),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.STAFF)
    is_support_engineer = models.BooleanField(_("support engineer"), default=False)
    full_name = models.CharField(_("person's name"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    must_change_password = models.BooleanField(default=True)
    issued_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = AccountManager()

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        indexes = [models.Index(fields=["unit", "role"])]

    def __str__(self) -> str:
        return self.username

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


class IssueKind(models.TextChoices):
    SINGLE = "single", _("One account")
    CHILDREN = "children", _("Every child unit")
    SCHOOLS = "schools", _("Every school")
    BOOTSTRAP = "bootstrap", _("First Ministry manager")
    REISSUE = "reissue", _("Re-issue")
    HANDOVER = "handover", _("Hand-over")


class IssueBatch(models.Model):
    """One act of issuing initial codes; carries the credential sheet for a short time."""

    # Null only for the first Ministry manager, created from the command line.
    issued_by = models.ForeignKey(Account, on_delete=models.PROTECT, null=True, related_name="+")
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=IssueKind.choices)
    account_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # The plaintext codes exist only here, encrypted, until the sheet expires
    # (CREDENTIAL_SHEET_TTL_HOURS); then only their keyed hashes remain.
    sheet = models.BinaryField(null=True, editable=False)
    sheet_expires_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.unit_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class InitialCode(models.Model):
    """A one-time code that lets a new or re-issued account log in once and set a password."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="initial_codes")
    batch = models.ForeignKey(
        IssueBatch, on_delete=models.SET_NULL, null=True, related_name="codes"
    )
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="initial_code_one_live_per_account",
            )
        ]

    def __str__(self) -> str:
        return f"code for {self.account_id}"


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("the audit log is append-only")

    def delete(self):
        raise TypeError("the audit log is append-only")


class AuditAction(models.TextChoices):
    ACCOUNT_ISSUED = "account.issued", _("Account issued")
    ACCOUNT_REISSUED = "account.reissued", _("Initial code re-issued")
    ACCOUNT_DISABLED = "account.disabled", _("Account disabled")
    ACCOUNT_ENABLED = "account.enabled", _("Account enabled")
    ACCOUNT_HANDED_OVER = "account.handed_over", _("Account handed over")
    SHEET_DOWNLOADED = "sheet.downloaded", _("Credential sheet downloaded")
    LOGIN_SUCCEEDED = "login.succeeded", _("Logged in")
    LOGIN_FAILED = "login.failed", _("Failed login")
    INITIAL_CODE_USED = "login.initial_code", _("Logged in with initial code")
    PASSWORD_CHANGED = "password.changed", _("Password changed")
    MFA_ACTIVATED = "mfa.activated", _("Two-factor activated")
    MFA_DEACTIVATED = "mfa.deactivated", _("Two-factor deactivated")
    MFA_RECOVERY_CODES = "mfa.recovery_codes", _("Recovery codes regenerated")
    UNITS_IMPORTED = "units.imported", _("Units imported")
    CHAT_MESSAGE_REMOVED = "chat.message_removed", _("Chat message removed")
    SUPPORT_ROSTER_CHANGED = "support.roster", _("Duty roster changed")
    SUPPORT_SLA_CHANGED = "support.sla", _("SLA targets changed")
    SUPPORT_TIERS_CHANGED = "support.tiers", _("Support tiers changed")
    ROLL_KEY_ISSUED = "roll.key_issued", _("Roll API key issued")
    ROLL_KEY_REVOKED = "roll.key_revoked", _("Roll API key revoked")
    ROLL_ID_UNMASKED = "roll.id_unmasked", _("ID number shown unmasked")
    ROLL_EXPORTED = "roll.exported", _("Problem records exported")
    UNIT_CHANGE_PROPOSED = "unit.proposed", _("Unit change proposed")
    UNIT_CHANGE_APPROVED = "unit.approved", _("Unit change approved")
    UNIT_CHANGE_REFUSED = "unit.refused", _("Unit change refused")
    UNIT_CHANGE_WITHDRAWN = "unit.withdrawn", _("Unit change withdrawn")
    UNIT_ADDED = "unit.added", _("Unit added")
    UNIT_RENAMED = "unit.renamed", _("Unit renamed")
    UNIT_CLOSED = "unit.closed", _("Unit closed")
    PROFILE_CHANGED = "profile.changed", _("Profile changed")
    ACCOUNT_MOVED = "account.moved", _("Account moved to another unit")
    REGISTER_EXPORTED = "register.exported", _("Administrators' register exported")
    NOTICE_WITHDRAWN = "notice.withdrawn", _("Notice withdrawn")
    NOTICE_CORRECTED = "notice.corrected", _("Notice corrected")
    NOTICE_NUMBERING_CHANGED = "notice.numbering", _("Document numbering changed")


class AuditEvent(models.Model):
    """An append-only record of something done to accounts, credentials or logins."""

    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    actor = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True)
    target = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    target_username = models.CharField(max_length=150, blank=True)
    unit = models.ForeignKey(
        Unit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The concerned unit's path, kept on the row so "my subtree's log" is one prefix scan.
    unit_path = models.CharField(max_length=SEGMENT * 6, blank=True, db_index=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_username or '-'}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the audit log is append-only")

    @property
    def subject_username(self) -> str:
        """The account concerned, or the name someone tried to log in as."""
        return self.target_username or str(self.detail.get("username", ""))


class UnitChangeKind(models.TextChoices):
    ADD = "add", _("Add a school")
    RENAME = "rename", _("Rename")
    CLOSE = "close", _("Close")


class UnitChangeStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class UnitChange(models.Model):
    """A county's proposal to add, rename or close a school, approved or refused by the
    level above (services.unit_change_*). Rows are kept after the decision: the record
    of who changed the tree, when and why."""

    kind = models.CharField(_("change"), max_length=10, choices=UnitChangeKind.choices)
    status = models.CharField(
        max_length=10,
        choices=UnitChangeStatus.choices,
        default=UnitChangeStatus.PENDING,
        db_index=True,
    )
    # The proposing unit (a county): a new school hangs under it.
    proposer_unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="+")
    # Its path, so "proposals for me to decide" is one prefix scan of my subtree.
    proposer_path = models.CharField(max_length=SEGMENT * 6, db_index=True)
    # The school renamed or closed; for an addition, the school created on approval.
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="changes"
    )
    # An addition: the school's identifier code (学校标识码) and type; an addition or
    # a rename: the (new) name. The old name is kept for the record.
    code = models.CharField(_("code"), max_length=10, blank=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    old_name = models.CharField(max_length=100, blank=True)
    school_type = models.CharField(_("school type"), max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    proposed_by = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Proposals sent together in one Excel workbook share this.
    batch = models.UUIDField(null=True, blank=True, db_index=True)
    decided_by = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            # One open proposal per school and per new code at a time.
            models.UniqueConstraint(
                fields=["unit"],
                condition=Q(status="pending", unit__isnull=False),
                name="unit_change_one_pending_per_unit",
            ),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(status="pending", kind="add"),
                name="unit_change_one_pending_per_new_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code or self.unit_id} ({self.status})"
