"""API keys in the admin: issue one (its secret is shown once), see when each was last
used, revoke. Keys are issued and revoked through `proxy.auth`, never written here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_cache_control

from autoskill_site.exceptions import NotFound
from proxy.auth import api_key_create, api_key_revoke
from proxy.models import ApiKey

# The request attribute carrying a just-issued secret from save_model to the response
# that shows it; it lives as long as that one request and is never stored.
ISSUED_ATTR = "_autoskill_issued_api_key"


class ApiKeyCreateForm(forms.ModelForm):
    """Who owns the new key, a label, and whether it may act for sub-users."""

    class Meta:
        model = ApiKey
        fields = ("owner", "name", "can_act_for_users", "rate_limit_per_minute")
        labels = {
            "can_act_for_users": "Service key",
            "rate_limit_per_minute": "Rate limit (requests per minute)",
        }

    def clean_owner(self) -> Any:
        owner = self.cleaned_data["owner"]
        if not owner.is_active:
            raise forms.ValidationError(
                "This user is inactive, so the key would be refused; activate the user first."
            )
        return owner


class KeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ServiceKeyFilter(admin.SimpleListFilter):
    title = "service key"
    parameter_name = "service"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Service keys"), ("no", "Ordinary keys")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(can_act_for_users=self.value() == "yes")
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Issue, inspect and revoke keys; a key is never edited or deleted (revoke it)."""

    list_display = (
        "prefix",
        "name",
        "owner",
        "service_key",
        "active",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (KeyStateFilter, ServiceKeyFilter)
    search_fields = ("prefix", "name", "owner__username")
    search_help_text = "Key prefix, key name or owner's username."
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    form = ApiKeyCreateForm
    actions = ["revoke"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "prefix",
                    "name",
                    "owner",
                    "can_act_for_users",
                    "rate_limit_per_minute",
                )
            },
        ),
        ("Use", {"fields": ("created_at", "last_used_at", "revoked_at")}),
    )
    readonly_fields = (
        "prefix",
        "name",
        "owner",
        "can_act_for_users",
        "rate_limit_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    class Media:
        css = {"all": ("css/admin_ops.css",)}

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("proxy.change_apikey")

    def get_fieldsets(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            fields = ("owner", "name", "can_act_for_users", "rate_limit_per_minute")
            return ((None, {"fields": fields}),)
        return self.fieldsets

    def get_readonly_fields(
        self, request: HttpRequest, obj: ApiKey | None = None
    ) -> Any:
        return () if obj is None else self.readonly_fields

    @admin.display(
        description="Service key", boolean=True, ordering="can_act_for_users"
    )
    def service_key(self, api_key: ApiKey) -> bool:
        return api_key.can_act_for_users

    @admin.display(description="Active", boolean=True, ordering="revoked_at")
    def active(self, api_key: ApiKey) -> bool:
        return api_key.is_active

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Every save leads to the page that shows the secret, so one button says it all.
        context = {
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
            **(extra_context or {}),
        }
        return super().add_view(request, form_url, context)

    def save_model(
        self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool
    ) -> None:
        """Issue the key through the service; `obj` (the form's unsaved copy) then takes
        the stored row's values, so the admin's log and redirect name the real key."""
        issued = api_key_create(
            owner=form.cleaned_data["owner"],
            name=form.cleaned_data.get("name") or "",
            can_act_for_users=bool(form.cleaned_data.get("can_act_for_users")),
            rate_limit_per_minute=form.cleaned_data.get("rate_limit_per_minute"),
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.api_key, field.attname))
        obj._state.adding = False
        obj._state.db = issued.api_key._state.db
        setattr(request, ISSUED_ATTR, issued.secret)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        """Show the secret on this response only: it is in no message, session or row,
        so no later page can show it again."""
        secret = getattr(request, ISSUED_ATTR, None)
        if secret is None:  # not issued by save_model; nothing to show
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "subtitle": None,
            "api_key": obj,
            "secret": secret,
            "change_url": reverse("admin:proxy_apikey_change", args=[obj.pk]),
            "changelist_url": reverse("admin:proxy_apikey_changelist"),
            "add_url": reverse("admin:proxy_apikey_add"),
        }
        response = TemplateResponse(request, "admin/proxy/apikey/created.html", context)
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for prefix in queryset.filter(revoked_at__isnull=True).values_list(
            "prefix", flat=True
        ):
            try:
                api_key_revoke(prefix=prefix)
            except NotFound:
                continue  # deleted meanwhile (its owner was)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)
