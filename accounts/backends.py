from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend

from accounts import services
from accounts.models import Account
from core.http import client_ip


class UnitLoadingMixin:
    """Loads the account of a session with its unit: nearly every page and the
    socket read `request.user.unit`, which would otherwise be a second query."""

    def get_user(self, user_id):
        # get(), not first(): no ORDER BY to build on every request and socket connect.
        try:
            account = Account._default_manager.select_related("unit").get(pk=user_id)
        except Account.DoesNotExist:
            account = None
        return account if account is not None and self.user_can_authenticate(account) else None


class PasswordBackend(UnitLoadingMixin, AuthenticationBackend):
    """allauth's username-and-password login."""


class InitialCodeBackend(UnitLoadingMixin, ModelBackend):
    """Logs in a new or re-issued account once with its initial code (初始口令)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not username or not password or services.initial_code_normalize(password) is None:
            return None
        account = Account.objects.filter(username__iexact=username).select_related("unit").first()
        if account is None or not self.user_can_authenticate(account):
            return None
        ip = client_ip(request) if request is not None else None
        if services.initial_code_consume(account=account, code=password, ip=ip):
            return account
        return None
