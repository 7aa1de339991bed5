"""Short-lived HS256 tokens for Zhipu BigModel (GLM) keys of the form `id.secret`.

BigModel accepts the raw key as a bearer token too, but its own SDKs sign a JWT
with the secret so that the secret never travels; this module does the same.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Literal

AuthMode = Literal["auto", "jwt", "api_key"]
TimeUnit = Literal["ms", "s"]
AUTH_MODES: tuple[str, ...] = ("auto", "jwt", "api_key")
TIME_UNITS: tuple[str, ...] = ("ms", "s")
TOKEN_TTL_S = 3600
# Tokens are replaced this long before they expire, so a request in flight (or a
# server with a slightly fast clock) never sees an expired one.
REFRESH_MARGIN_S = 300


def looks_like_glm_key(api_key: str) -> bool:
    """True for `id.secret` (one dot, two non-empty parts, no spaces)."""
    key_id, dot, secret = api_key.partition(".")
    return bool(dot and key_id and secret and "." not in secret and " " not in api_key)


def resolve_auth_mode(mode: str, api_key: str) -> Literal["jwt", "api_key"]:
    """`auto` signs a JWT exactly when the key looks like `id.secret`."""
    if mode not in AUTH_MODES:
        raise ValueError(f"auth mode {mode!r} is not one of {', '.join(AUTH_MODES)}.")
    if mode == "api_key":
        return "api_key"
    if mode == "jwt" and not looks_like_glm_key(api_key):
        raise ValueError("JWT auth needs an API key of the form id.secret.")
    return "jwt" if looks_like_glm_key(api_key) else "api_key"


def sign_glm_token(
    api_key: str, *, now: float, ttl_s: int = TOKEN_TTL_S, time_unit: TimeUnit = "ms"
) -> str:
    """An HS256 JWT `{"api_key", "exp", "timestamp"}` with header `sign_type: SIGN`."""
    from jwt.algorithms import HMACAlgorithm
    from jwt.utils import base64url_encode

    if time_unit not in TIME_UNITS:
        raise ValueError(
            f"time unit {time_unit!r} is not one of {', '.join(TIME_UNITS)}."
        )
    key_id, _, secret = api_key.partition(".")
    scale = 1000 if time_unit == "ms" else 1
    stamp = int(now * scale)
    claims = {"api_key": key_id, "exp": stamp + ttl_s * scale, "timestamp": stamp}
    # jwt.encode() would warn (InsecureKeyLengthWarning) about the vendor-issued
    # secrets, which are shorter than 32 bytes and cannot be changed by us; PyJWT's
    # HMAC primitive signs the same compact JWS without that warning.
    header = {"alg": "HS256", "sign_type": "SIGN"}
    segments = [
        base64url_encode(json.dumps(part, separators=(",", ":")).encode("utf-8"))
        for part in (header, claims)
    ]
    signing_input = b".".join(segments)
    algorithm = HMACAlgorithm(HMACAlgorithm.SHA256)
    signature = algorithm.sign(signing_input, algorithm.prepare_key(secret))
    return b".".join([signing_input, base64url_encode(signature)]).decode("ascii")


class GLMTokenCache:
    """Hands out one token per key until it is close to expiry (thread-safe)."""

    def __init__(
        self,
        api_key: str,
        *,
        time_unit: TimeUnit = "ms",
        ttl_s: int = TOKEN_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not looks_like_glm_key(api_key):
            raise ValueError("GLM JWT auth needs an API key of the form id.secret.")
        if time_unit not in TIME_UNITS:
            raise ValueError(
                f"time unit {time_unit!r} is not one of {', '.join(TIME_UNITS)}."
            )
        self._api_key = api_key
        self.time_unit: TimeUnit = time_unit
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires_at = 0.0

    def token(self) -> str:
        """The cached token, or a freshly signed one when it nears expiry."""
        with self._lock:
            now = self._clock()
            if not self._token or now >= self._expires_at - min(
                REFRESH_MARGIN_S, self.ttl_s / 2
            ):
                self._token = sign_glm_token(
                    self._api_key, now=now, ttl_s=self.ttl_s, time_unit=self.time_unit
                )
                self._expires_at = now + self.ttl_s
            return self._token

    def current(self) -> str:
        """The last token handed out ("" before the first), for redaction."""
        return self._token
