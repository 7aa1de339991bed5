"""GLM (Zhipu BigModel) JWT signing (autoskill_site/providers/glm_auth.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest

from autoskill_site.providers.glm_auth import (
    GLMTokenCache,
    looks_like_glm_key,
    resolve_auth_mode,
    sign_glm_token,
)

# 32+ bytes, so PyJWT's own decode() accepts it without a key-length warning.
SECRET = "s3cret-0123456789abcdef0123456789abcdef"
KEY = f"my-key-id.{SECRET}"


def _decode(token: str, secret: str = SECRET) -> dict:
    return jwt.decode(
        token, secret, algorithms=["HS256"], options={"verify_exp": False}
    )


class TestKeyShape:
    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            ("abc.def", True),
            (KEY, True),
            ("sk-plainkey", False),
            ("a.b.c", False),  # a JWT already, not id.secret
            (".secret", False),
            ("id.", False),
            ("id .secret", False),
        ],
    )
    def test_looks_like_glm_key(self, key, expected) -> None:
        assert looks_like_glm_key(key) is expected

    def test_auth_mode_resolution(self) -> None:
        """auto follows the key shape; jwt insists on it; api_key never signs."""
        assert resolve_auth_mode("auto", KEY) == "jwt"
        assert resolve_auth_mode("auto", "sk-plain") == "api_key"
        assert resolve_auth_mode("api_key", KEY) == "api_key"
        assert resolve_auth_mode("jwt", KEY) == "jwt"
        with pytest.raises(ValueError, match="id.secret"):
            resolve_auth_mode("jwt", "sk-plain")
        with pytest.raises(ValueError, match="auth mode"):
            resolve_auth_mode("oauth", KEY)


class TestSigning:
    def test_claims_and_header_in_milliseconds(self) -> None:
        """Default unit ms: exp = timestamp + 3600 s, header carries sign_type SIGN."""
        # when
        token = sign_glm_token(KEY, now=1_700_000_000.25)
        # then
        claims = _decode(token)
        assert claims == {
            "api_key": "my-key-id",
            "timestamp": 1_700_000_000_250,
            "exp": 1_700_000_000_250 + 3_600_000,
        }
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "sign_type": "SIGN"}

    def test_seconds_unit(self) -> None:
        claims = _decode(sign_glm_token(KEY, now=1_700_000_000.9, time_unit="s"))
        assert claims["timestamp"] == 1_700_000_000
        assert claims["exp"] == 1_700_000_000 + 3600

    def test_wrong_secret_fails_verification(self) -> None:
        token = sign_glm_token(KEY, now=1_700_000_000)
        with pytest.raises(jwt.InvalidSignatureError):
            _decode(token, secret="another-secret-0123456789abcdef0123")

    def test_short_vendor_secret_signs_without_warning(self) -> None:
        """Vendor secrets are short; signing must not warn (warnings are errors)."""
        token = sign_glm_token("id.short", now=1_700_000_000)
        signing_input, _, signature = token.rpartition(".")
        expected = hmac.new(b"short", signing_input.encode(), hashlib.sha256).digest()
        padded = signature + "=" * (-len(signature) % 4)
        assert base64.urlsafe_b64decode(padded) == expected
        payload = signing_input.split(".")[1]
        claims = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        assert claims["api_key"] == "id"


class TestTokenCache:
    def test_token_is_reused_until_near_expiry(self) -> None:
        """One token for most of the hour; a new one in the last minutes."""
        # given
        now = [1_700_000_000.0]
        cache = GLMTokenCache(KEY, clock=lambda: now[0])
        # when
        first = cache.token()
        now[0] += 3000  # 50 minutes later: still well before expiry
        second = cache.token()
        now[0] += 400  # 56m40s: inside the refresh margin
        third = cache.token()
        # then
        assert first == second
        assert third != first and cache.current() == third
        assert _decode(third)["timestamp"] == int(now[0] * 1000)

    def test_requires_id_secret(self) -> None:
        with pytest.raises(ValueError, match="id.secret"):
            GLMTokenCache("sk-plain")
