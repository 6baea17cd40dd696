"""The password policy every chosen password passes: length, letters, digits, symbols,
and nothing like the account's own username or unit code."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from tests import factories


@pytest.fixture
def account(tree):
    return factories.staff(tree.county, username="zhangwei")


def refusal_codes(password, user):
    with pytest.raises(ValidationError) as info:
        validate_password(password, user=user)
    return [e.code for e in info.value.error_list], info.value.messages


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Ab1#xy", "password_too_short"),
        ("2468#5791!", "password_no_letter"),
        ("Abcdefgh#!", "password_no_digit"),
        ("Abcd1234efgh", "password_no_symbol"),
    ],
)
def test_a_password_missing_one_requirement_is_refused_for_that_reason(account, password, code):
    codes, messages = refusal_codes(password, account)
    assert codes == [code]
    assert len(messages) == 1


def test_each_requirement_has_its_own_message(account):
    messages = {
        refusal_codes(p, account)[1][0]
        for p in ("Ab1#xy", "2468#5791!", "Abcdefgh#!", "Abcd1234efgh")
    }
    assert len(messages) == 4


def test_a_password_containing_the_username_is_refused(account):
    assert refusal_codes("Zhangwei#2026", account)[0] == ["password_too_similar"]


def test_a_password_containing_the_unit_code_is_refused(account):
    assert refusal_codes("Qx#130102vv", account)[0] == ["password_too_similar"]


def test_a_long_mixed_password_is_accepted(account):
    assert validate_password("Xk9#mQ2!vL", user=account) is None


def test_a_common_password_is_refused(account):
    codes, _messages = refusal_codes("Password1!", account)
    assert "password_too_common" in codes
