"""Django's admin is for the platform's operators (superusers) only; managers use
the platform's own pages, which apply the scoping rules. The lists here are read-only
so that no write can bypass the services and their audit rows."""

from django.contrib import admin

from accounts.models import Account, AuditEvent, IssueBatch, Unit


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser


@admin.register(Unit)
class UnitAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("username", "full_name", "unit", "role", "is_support_engineer", "is_active")
    list_filter = ("role", "is_active", "is_support_engineer")
    search_fields = ("username", "full_name", "unit__code")
    exclude = ("password",)


@admin.register(IssueBatch)
class IssueBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "unit", "issued_by", "account_count", "created_at")
    exclude = ("sheet",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor_username", "target_username", "unit", "ip")
    list_filter = ("action",)
    search_fields = ("actor_username", "target_username")
