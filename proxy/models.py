"""API keys: hashed at rest, looked up by a keyed hash on every proxied request."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiKey(models.Model):
    """A bearer credential for the /v1 API; only its HMAC and a visible prefix are stored."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Shown to identify the key."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    can_act_for_users = models.BooleanField(
        default=False,
        help_text="Trusted service key: may act for named sub-users namespaced under the owner.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(key_hash=""), name="apikey_hash_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
