from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models.query import get_related_populators

from accounts import services
from accounts.models import Account
from core.http import client_ip


class _AccountWithUnit:
    """`Account._default_manager.select_related("unit").get(pk=…)`, compiled once per
    database: on every request and socket connect, building that query cost 0.5 ms of
    CPU, four times running it (bench/middleware.py). The SQL, the columns and the
    value converters are the ORM's own; each call only runs the statement and builds
    the two instances the way the ORM's ModelIterable does."""

    def __init__(self, using: str):
        self.using = using
        queryset = Account._default_manager.using(using).select_related("unit").filter(pk=0)
        compiler = queryset.query.get_compiler(using=using)
        self.sql, params = compiler.as_sql()
        if list(params) != [0]:  # the pk must be the statement's one parameter
            raise RuntimeError(f"unexpected parameters {params!r} for the account query")
        self.compiler = compiler
        select, klass_info = compiler.select, compiler.klass_info
        first, last = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.span = slice(first, last)
        self.init_list = [f[0].target.attname for f in select[first:last]]
        self.populators = get_related_populators(klass_info, select, using)
        self.converters = compiler.get_converters([f[0] for f in select])

    def get(self, pk) -> Account | None:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, [pk])
            rows = cursor.fetchall()
        if len(rows) != 1:
            return None
        if self.converters:
            rows = list(self.compiler.apply_converters(rows, self.converters))
        row = rows[0]
        account = Account.from_db(self.using, self.init_list, row[self.span])
        for populator in self.populators:
            populator.populate(row, account)
        return account


_loaders: dict[str, _AccountWithUnit] = {}


class UnitLoadingMixin:
    """Loads the account of a session with its unit: nearly every page and the
    socket read `request.user.unit`, which would otherwise be a second query."""

    def get_user(self, user_id):
        using = router.db_for_read(Account)
        loader = _loaders.get(using)
        if loader is None:
            loader = _loaders[using] = _AccountWithUnit(using)
        try:
            pk = Account._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        account = loader.get(pk)
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
