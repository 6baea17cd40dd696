from allauth.account.forms import LoginForm as AllauthLoginForm
from allauth.core.exceptions import ImmediateHttpResponse
from captcha.fields import CaptchaField
from django import forms
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts import login_limits, scoping, services, validators
from accounts.adapters import refusal_response
from accounts.models import Account, IssueKind, Role, Unit
from accounts.services import BULK_ROLES
from accounts.widgets import UnitPickerInput
from core.http import client_ip

# A refused initial code that was issued to the typed username but is spent
# (accounts.services.initial_code_spent): say so instead of "wrong username or password".
STALE_CODE = {
    "used": _(
        "This initial code has already been used: it logs in only once. Log in with the "
        "password you set; if you have forgotten it, ask the manager of the level above "
        "you to re-issue an initial code."
    ),
    "expired": _(
        "This initial code has expired. Ask the manager of the level above you (who "
        "issued your account) to re-issue one."
    ),
    "replaced": _(
        "This initial code was replaced by a newer one. Use the newest code you were "
        "given, or ask the manager of the level above you to re-issue one."
    ),
}


class LoginForm(AllauthLoginForm):
    """allauth's login form (ACCOUNT_FORMS), asking for the characters of an image
    CAPTCHA once many logins from the client's address have failed
    (accounts/login_limits.py); a wrong answer checks no password."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ip = client_ip(self.request) if self.request is not None else None
        self.captcha_required = login_limits.captcha_required(ip=ip)
        if self.captcha_required:
            self.fields["captcha"] = CaptchaField(label=_("Characters in the picture"))

    def clean(self):
        if self.captcha_required and "captcha" in self.errors:
            ip = client_ip(self.request)
            refusal = login_limits.network_failure(ip=ip) or login_limits.refusal(
                ip=ip, username=self.data.get("login") or ""
            )
            if refusal is not None:
                password = self.data.get("password") or ""
                raise ImmediateHttpResponse(
                    refusal_response(self.request, refusal, password=password)
                )
            return self.cleaned_data
        try:
            return super().clean()
        except ValidationError as refused:
            # The failure that crosses the threshold already shows the picture.
            if not self.captcha_required and login_limits.captcha_required(
                ip=client_ip(self.request)
            ):
                self.captcha_required = True
                self.fields["captcha"] = CaptchaField(label=_("Characters in the picture"))
            stale = services.initial_code_spent(
                username=self.data.get("login") or "", code=self.data.get("password") or ""
            )
            if stale is not None:
                raise ValidationError(STALE_CODE[stale]) from refused
            raise


class FirstPasswordForm(SetPasswordForm):
    """Choose the password that replaces the initial code; the policy's errors show inline."""


class _UnitCodeField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", UnitPickerInput())
        super().__init__(label=_("Unit code"), max_length=10, **kwargs)


class _ActorForm(forms.Form):
    def __init__(self, *args, actor, **kwargs):
        self.actor = actor
        super().__init__(*args, **kwargs)

    def _unit(self) -> Unit | None:
        code = (self.cleaned_data.get("unit_code") or "").strip()
        unit = Unit.objects.filter(code=code).first()
        if unit is None or not scoping.can_view_unit(self.actor, unit):
            self.add_error("unit_code", _("No unit with this code in your jurisdiction."))
            return None
        return unit


class _OptionalPhoneField(forms.CharField):
    """A phone that may be left empty; when given, checked and tidied as the profile's
    (validators.normalize_phone: a mainland mobile or a landline with its area code)."""

    def __init__(self, **kwargs):
        super().__init__(label=_("Phone"), max_length=30, required=False, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        return validators.normalize_phone(value) if value else ""


class IssueSingleForm(_ActorForm):
    unit_code = _UnitCodeField()
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.STAFF)
    full_name = forms.CharField(label=_("Person's name"), max_length=50, required=False)
    phone = _OptionalPhoneField()
    username = forms.CharField(
        label=_("Username"),
        max_length=40,
        required=False,
        help_text=_("Leave empty to use the unit code, e.g. 130102-s1."),
        validators=[Account.username_validator],
    )
    is_support_engineer = forms.BooleanField(label=_("Support engineer"), required=False)

    def clean(self):
        data = super().clean()
        unit = self._unit()
        if (
            unit is not None
            and data.get("role")
            and not scoping.can_issue(self.actor, unit, data["role"])
        ):
            self.add_error(
                "role",
                _(
                    "Manager accounts for your own unit come from the level above; issue a staff account."
                )
                if unit.pk == self.actor.unit_id
                else _("You may not issue this account for this unit."),
            )
        username = (data.get("username") or "").strip()
        if username and Account.objects.filter(username__iexact=username).exists():
            self.add_error("username", _("This username is taken."))
        data["unit"] = unit
        return data


class IssueBulkForm(_ActorForm):
    unit_code = _UnitCodeField()
    scope = forms.ChoiceField(
        label=_("For"),
        choices=[
            (IssueKind.CHILDREN, _("every child unit of this unit")),
            (IssueKind.SCHOOLS, _("every school under this unit")),
        ],
    )
    roles = forms.ChoiceField(
        label=_("Accounts"),
        choices=[
            ("manager_and_staff", _("one manager and one staff account each")),
            ("staff", _("one staff account each")),
            ("manager", _("one manager account each")),
        ],
    )

    def clean(self):
        data = super().clean()
        data["unit"] = self._unit()
        if data.get("roles") and data["roles"] not in BULK_ROLES:
            self.add_error("roles", _("Unknown choice."))
        return data


class HandOverForm(forms.Form):
    full_name = forms.CharField(label=_("New person's name"), max_length=50)
    phone = _OptionalPhoneField()


# --- issue 15, task E: the profile, the register's filters, moving an account ----------


class ProfileForm(forms.Form):
    """The person's own name and phone; services.profile_update validates and says why."""

    full_name = forms.CharField(label=_("Your name"), max_length=100)
    phone = forms.CharField(
        label=_("Contact phone"),
        max_length=40,
        help_text=_(
            "A mobile number (13812345678) or a landline with its area code (0311-12345678)."
        ),
    )


class RegisterFilterForm(forms.Form):
    """Which unit's register (by code, default the actor's own), with or without the
    units under it, and the date from which changes are listed."""

    unit = forms.CharField(
        label=_("Unit code"), max_length=10, required=False, widget=UnitPickerInput()
    )
    scope = forms.ChoiceField(
        label=_("Scope"),
        choices=[
            ("subtree", _("this unit and every unit under it")),
            ("unit", _("this unit only")),
        ],
        required=False,
    )
    since = forms.DateField(
        label=_("Changes since"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty to list no changes."),
    )


class MoveForm(_ActorForm):
    unit_code = _UnitCodeField(help_text=_("The code of the unit the account moves to."))

    def clean(self):
        data = super().clean()
        data["unit"] = self._unit()
        return data
