"""The password policy: letters, digits and symbols, and nothing like the login's own names."""

import re
from difflib import SequenceMatcher

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


class ComplexityValidator:
    def __init__(self, min_length: int = 8):
        self.min_length = min_length

    def validate(self, password, user=None):
        errors = []
        if len(password) < self.min_length:
            errors.append(
                ValidationError(
                    ngettext(
                        "The password must be at least %(n)d character long.",
                        "The password must be at least %(n)d characters long.",
                        self.min_length,
                    )
                    % {"n": self.min_length},
                    code="password_too_short",
                )
            )
        if not re.search(r"[A-Za-z]", password):
            errors.append(
                ValidationError(_("The password must contain a letter."), code="password_no_letter")
            )
        if not re.search(r"[0-9]", password):
            errors.append(
                ValidationError(_("The password must contain a digit."), code="password_no_digit")
            )
        if not re.search(r"[^A-Za-z0-9\s]", password):
            errors.append(
                ValidationError(
                    _("The password must contain a symbol such as ! @ # $ %."),
                    code="password_no_symbol",
                )
            )
        if errors:
            raise ValidationError(errors)

    def get_help_text(self):
        return _("At least %(n)d characters, with letters, digits and symbols.") % {
            "n": self.min_length
        }


class NotSimilarToIdentityValidator:
    """Refuses a password close to the username or to the account's unit code."""

    max_similarity = 0.7

    def validate(self, password, user=None):
        if user is None:
            return
        candidates = [getattr(user, "username", "") or ""]
        unit = getattr(user, "unit", None)
        if unit is not None:
            candidates.append(unit.code)
        lowered = password.lower()
        for value in candidates:
            value = value.lower()
            if not value:
                continue
            if (
                value in lowered
                or lowered in value
                or SequenceMatcher(a=lowered, b=value).quick_ratio() >= self.max_similarity
                and SequenceMatcher(a=lowered, b=value).ratio() >= self.max_similarity
            ):
                raise ValidationError(
                    _("The password is too similar to your username or your unit's code."),
                    code="password_too_similar",
                )

    def get_help_text(self):
        return _("It must not resemble your username or your unit's code.")


# --- a person's phone (issue 15, task E: the self-service profile) ---------------------

_MOBILE = re.compile(r"1[3-9]\d{9}")
# A landline: the area code (010 and 02x have three digits, every other one four), the
# local number (7 or 8 digits, not starting with 0), an optional extension.
_LANDLINE = re.compile(r"(0[12]\d|0[3-9]\d\d)-?([1-9]\d{6,7})(?:-(\d{1,6}))?")
_EXTENSION = re.compile(r"(?:转|ext\.?|x|#)", re.IGNORECASE)


def normalize_phone(value: str) -> str:
    """A mainland mobile number (13812345678) or a landline with its area code
    (0311-12345678, with an extension 0311-12345678-123), in that canonical form.
    Full-width digits, spaces, brackets around the area code, +86 before a mobile
    and 转/ext before an extension are accepted; anything else is refused with a
    reason the person can act on."""
    import unicodedata

    text = unicodedata.normalize("NFKC", value or "").strip()
    text = re.sub(r"[\s()（）]", "", text)
    text = _EXTENSION.sub("-", text)
    if text.startswith("+86"):
        text = text[3:].lstrip("-")
    if not text:
        raise ValidationError(_("Enter a phone number."), code="phone_empty")
    if not re.fullmatch(r"[0-9-]+", text):
        raise ValidationError(
            _(
                "A phone number holds digits only (a landline also hyphens), e.g. 13812345678 or 0311-12345678."
            ),
            code="phone_characters",
        )
    digits = text.replace("-", "")
    if text.startswith("1"):
        if _MOBILE.fullmatch(digits):
            return digits
        if len(digits) != 11:
            raise ValidationError(
                _("A mobile number has 11 digits; this one has %(n)d.") % {"n": len(digits)},
                code="phone_mobile_length",
            )
        raise ValidationError(
            _("A mobile number starts with 13 to 19, e.g. 13812345678."),
            code="phone_mobile_prefix",
        )
    match = _LANDLINE.fullmatch(text)
    if match is None:
        raise ValidationError(
            _(
                "Enter a mobile number (11 digits, e.g. 13812345678) or a landline with its "
                "area code (e.g. 0311-12345678; an extension after a hyphen: 0311-12345678-123)."
            ),
            code="phone_invalid",
        )
    area, number, extension = match.groups()
    return f"{area}-{number}" + (f"-{extension}" if extension else "")
