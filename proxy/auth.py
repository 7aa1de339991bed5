"""Create and check API keys. Keys are random; only an HMAC-SHA-256 of each is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from autoskill_site.exceptions import ApplicationError, NotFound
from proxy.models import ApiKey
from proxy.ratelimit import rate_limit_check

KEY_PREFIX = "ask_"
# last_used_at is informational; writing it on every request would serialise requests.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class AuthenticationFailed(ApplicationError):
    code = "invalid_api_key"
    status = 401


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    api_key: ApiKey
    secret: str


def key_digest(secret: str) -> str:
    key = settings.AUTOSKILL_API_KEY_SECRET.encode("utf-8")
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def api_key_create(
    *,
    owner: Any,
    name: str = "",
    can_act_for_users: bool = False,
    rate_limit_per_minute: int | None = None,
) -> IssuedKey:
    """Issue a key for `owner`; the plaintext is returned once.

    `rate_limit_per_minute`: this key's own limit (None: the server's, 0: none).
    """
    prefix = KEY_PREFIX + secrets.token_hex(4)
    secret = f"{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        owner=owner,
        name=name[:100],
        prefix=prefix,
        key_hash=key_digest(secret),
        can_act_for_users=can_act_for_users,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def api_key_revoke(*, prefix: str) -> ApiKey:
    api_key = ApiKey.objects.filter(prefix=prefix).first()
    if api_key is None:
        raise NotFound(f"No API key with prefix {prefix}.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    recent_keys.clear()
    return api_key


def bearer_token(authorization: str) -> str:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Send your API key as 'Authorization: Bearer <key>'."
        )
    return token.strip()


class _RecentKeys:
    """Keys verified in the last few seconds, so a busy client costs no query per request.

    Revoking a key (or deactivating its owner) therefore takes effect within
    AUTOSKILL_API_KEY_CACHE_SECONDS in other processes; `api_key_revoke` clears this
    process at once. 0 turns the cache off.
    """

    def __init__(self, size: int = 1024) -> None:
        self._items: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, digest: str) -> ApiKey | None:
        ttl = settings.AUTOSKILL_API_KEY_CACHE_SECONDS
        with self._lock:
            item = self._items.get(digest)
            if item is None or ttl <= 0 or time.monotonic() - item[0] > ttl:
                self._items.pop(digest, None)
                return None
            return item[1]

    def put(self, digest: str, api_key: ApiKey) -> None:
        with self._lock:
            self._items[digest] = (time.monotonic(), api_key)
            self._items.move_to_end(digest)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


recent_keys = _RecentKeys()


def _could_be_key(secret: str) -> bool:
    """Worth a lookup: one of our keys, or the configured static key (`serve
    --proxy-api-key`, stored like any key by proxy/static_key.py)."""
    if len(secret) > 200:
        return False
    if secret.startswith(KEY_PREFIX):
        return True
    static = getattr(settings, "AUTOSKILL_PROXY_API_KEY", "")
    return bool(static) and hmac.compare_digest(
        secret.encode("utf-8"), static.encode("utf-8")
    )


def api_key_authenticate(*, secret: str) -> ApiKey:
    """Return the live key matching `secret`, or raise AuthenticationFailed.

    Each success counts one request against the key's rate limit (proxy/ratelimit.py),
    which raises RateLimited once it is used up: every caller of a key passes here.
    """
    if not _could_be_key(secret):
        raise AuthenticationFailed("Incorrect API key provided.")
    digest = key_digest(secret)
    cached = recent_keys.get(digest)
    if cached is not None:
        rate_limit_check(api_key=cached)
        return cached
    api_key = ApiKey.objects.select_related("owner").filter(key_hash=digest).first()
    if api_key is None or api_key.revoked_at is not None or not api_key.owner.is_active:
        raise AuthenticationFailed("Incorrect API key provided.")
    recent_keys.put(digest, api_key)
    now = timezone.now()
    if (
        api_key.last_used_at is None
        or now - api_key.last_used_at > LAST_USED_RESOLUTION
    ):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    rate_limit_check(api_key=api_key)
    return api_key
