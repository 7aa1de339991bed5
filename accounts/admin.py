from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin, plus the service account a sub-user belongs to."""

    list_display = (*DjangoUserAdmin.list_display, "parent", "external_id")
    list_filter = (*DjangoUserAdmin.list_filter, ("parent", admin.EmptyFieldListFilter))
    search_fields = (*DjangoUserAdmin.search_fields, "external_id")
    readonly_fields = ("parent", "external_id")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Sub-user of a service key", {"fields": ("parent", "external_id")}),
    )
