"""The original's single static proxy key, kept as an ordinary API key.

The original server accepted one shared string (`--proxy-api-key`,
AUTOSKILL_PROXY_API_KEY) from every client and trusted whatever user the client then
claimed. Here that string becomes an API key of one user (`--user-id`,
AUTOSKILL_USER_ID): only its HMAC is stored, clients send it as
`Authorization: Bearer <key>` exactly as before, and it acts as that user (a service
key it is not). `proxy/auth.py` accepts a key without the `ask_` prefix only while
it is the configured AUTOSKILL_PROXY_API_KEY, so removing the variable switches it
off. Registering a new static key revokes the one registered before: the original
had one key at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from autoskill_site.exceptions import Conflict, InvalidInput
from proxy.auth import key_digest, recent_keys
from proxy.models import ApiKey

__all__ = ["STATIC_KEY_NAME", "StaticKey", "api_key_set_static", "user_for_service"]

STATIC_KEY_NAME = "static proxy key (--proxy-api-key)"
MIN_STATIC_KEY_CHARS = 16
MAX_STATIC_KEY_CHARS = 200


@dataclass(frozen=True)
class StaticKey:
    """The registered key, and what registering it changed."""

    api_key: ApiKey
    created: bool
    revoked: int


def user_for_service(*, username: str) -> tuple[Any, bool]:
    """The named user, created active without a usable password (keys only)."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = User(username=username, is_active=True)
    user.set_unusable_password()
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        raise InvalidInput(
            f"User name {username!r}: {' '.join(exc.messages)}"
        ) from None
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # created meanwhile by another process
        return User.objects.get(username=username), False
    return user, True


def _checked(secret: str) -> str:
    if secret != secret.strip() or any(ch.isspace() for ch in secret):
        raise InvalidInput("The static proxy key must not contain spaces.")
    if not MIN_STATIC_KEY_CHARS <= len(secret) <= MAX_STATIC_KEY_CHARS:
        raise InvalidInput(
            f"The static proxy key must be {MIN_STATIC_KEY_CHARS} to "
            f"{MAX_STATIC_KEY_CHARS} characters long (got {len(secret)}); a short "
            "shared key is guessed quickly."
        )
    if not secret.isprintable() or not secret.isascii():
        raise InvalidInput("The static proxy key must be printable ASCII.")
    return secret


def api_key_set_static(*, owner: Any, secret: str) -> StaticKey:
    """Accept `secret` as an API key of `owner`; earlier static keys are revoked."""
    digest = key_digest(_checked(secret))
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(key_hash=digest).first()
        created = api_key is None
        if api_key is None:
            api_key = ApiKey.objects.create(
                owner=owner,
                name=STATIC_KEY_NAME,
                prefix=f"static_{digest[:8]}",
                key_hash=digest,
            )
        elif api_key.owner_id != owner.pk:
            raise Conflict(
                "That static proxy key is already an API key of another user; "
                "choose a different key."
            )
        elif api_key.revoked_at is not None:
            raise Conflict(
                f"That static proxy key ({api_key.prefix}) was revoked; choose a "
                "different key."
            )
        revoked = (
            ApiKey.objects.filter(name=STATIC_KEY_NAME, revoked_at__isnull=True)
            .exclude(pk=api_key.pk)
            .update(revoked_at=timezone.now())
        )
    if revoked:
        recent_keys.clear()
    return StaticKey(api_key=api_key, created=created, revoked=revoked)
