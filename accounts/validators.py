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
