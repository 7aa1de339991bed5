from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from proxy.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with `manage.py create_api_key` (the secret is shown once); here they are revoked."""

    list_display = (
        "prefix",
        "name",
        "owner",
        "can_act_for_users",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("can_act_for_users",)
    search_fields = ("prefix", "name", "owner__username")
    readonly_fields = ("owner", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
