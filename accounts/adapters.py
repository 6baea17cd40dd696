from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are issued from above, never signed up for."""

    def is_open_for_signup(self, request):
        return False
