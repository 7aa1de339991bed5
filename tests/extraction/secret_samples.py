"""Fake secrets in their real formats, and a check that none of them leaked.

Every value is invented (most say FAKE or EXAMPLE in them) but keeps the shape of the
real thing, so the redaction patterns meet what they will meet in production. Tests
for jobs, payloads, events and logs import `SECRET_SAMPLES` to plant secrets and
`assert_no_secrets` to prove none survived.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SECRET_NEEDLES", "SECRET_SAMPLES", "assert_no_secrets"]

_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJmYWtlLXVzZXItMTIzNCIsIm5hbWUiOiJGYWtlIFRlc3RlciIsImlhdCI6MTcwMDAwMDAwMH0"
    ".FAKEsignature0123456789abcdefGHIJKLMNOPqrstu"
)
_PEM_LINES = (
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDFAKEKEYFAKEKEY0",
    "RkFLRSBQUklWQVRFIEtFWSBGT1IgUkVEQUNUSU9OIFRFU1RTIE9OTFkgLSBOT1Qg",
    "QSBSRUFMIEtFWS4gRkFLRSBQUklWQVRFIEtFWSBGT1IgUkVEQUNUSU9OIFRFU1RT",
    "IE9OTFkgLSBOT1QgQSBSRUFMIEtFWS4=",
)
_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    + "\n".join(_PEM_LINES)
    + "\n-----END PRIVATE KEY-----"
)

#: name -> a string as it would appear in a conversation, label included when the
#: format is only recognisable by its label (password=, aws_secret_access_key = …).
SECRET_SAMPLES: dict[str, str] = {
    "openai": "sk-FAKEu8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dT3BlbkFJ",
    "openai_project": (
        "sk-proj-FAKE0123456789abcdefghijKLMNOPQRSTuvwxyz_0123456789-ABCDEFGHIJ"
        "klmnopqrstuvwxyzT3BlbkFJ0123456789abcdefghijKLMNOPQRSTUVWXYZ012345A"
    ),
    "anthropic": (
        "sk-ant-api03-FAKEKLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFRIBXuDL7DxtpYlSXpf"
        "KtHF4v-abcdefghij0123456789_ABCDEFGHIJklmnop-QRSTUVAA"
    ),
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_session_key_id": "ASIAFAKE2TESTKEY7XYZ",
    "aws_secret_access_key": (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ),
    "github_classic": "ghp_FAKEu8jzPde0IgxLd6GncfBAepfJBd0Kh8o",
    "github_oauth": "gho_FAKE0Kh8oOOL8du8jzPde0IgxLd6GncfBAep",
    "github_fine_grained": (
        "github_pat_11FAKE0123456789abcdEF_KLzdocJ2isAjIhKtJ0RlgLKOmxgJTeKdNnFR"
        "IBXuDL7DxtpYlSXpfKtHF4v"
    ),
    "slack": "xoxb-1234567890-1234567890123-FAKEabcdefghijklmnopqrst",
    "google": "AIzaSyFAKE-0123456789abcdefghijKLMNOPqr",
    "stripe": "sk_live_51FAKEabcdefghijKLMNOPqrstuv0123456789",
    "stripe_restricted": "rk_live_51FAKEzyxwvutsrqPONMLKjihgfe9876543210",
    "huggingface": "hf_FAKEabcdefghijKLMNOPQRSTuvwxyz0123456789",
    "jwt": _JWT,
    "bearer": "Authorization: Bearer 7f3bFAKEtoken9a8b7c6d5e4f3a2b1c0",
    "private_key": _PEM,
    "url_credentials": "https://deploy-bot:S3cretFAKEpw0rd@git.example.com/team/app.git",
    "url_token_param": "https://api.example.com/v1/export?format=csv&access_token=FAKEq1w2e3r4t5y6",
    "email": "alice.fake+ops@example.com",
    "password": "password=Tr0ub4dor&3FAKE",
    "api_key": "api_key: 'q9FAKEw8e7r6t5y4'",
    "token": "GITHUB_TOKEN=FAKEtoken_abc123def456",
    "secret": 'client_secret = "FAKE-client-secret-42"',
    "password_zh": "密码：FakePass2024!",
    "high_entropy": "Zq8Xv2LmN4pR7tY1wK9sD3fG6hJ0bC5aE2uI8oPz",
}

#: name -> the parts of the sample that must never appear after redaction (the label
#: may stay: "password=" is context, the value is the secret).
SECRET_NEEDLES: dict[str, tuple[str, ...]] = {
    name: (value,) for name, value in SECRET_SAMPLES.items()
} | {
    "aws_secret_access_key": ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",),
    "bearer": ("7f3bFAKEtoken9a8b7c6d5e4f3a2b1c0",),
    "private_key": _PEM_LINES,
    "url_credentials": ("deploy-bot:", "S3cretFAKEpw0rd"),
    "url_token_param": ("FAKEq1w2e3r4t5y6",),
    "password": ("Tr0ub4dor&3FAKE",),
    "api_key": ("q9FAKEw8e7r6t5y4",),
    "token": ("FAKEtoken_abc123def456",),
    "secret": ("FAKE-client-secret-42",),
    "password_zh": ("FakePass2024",),
}


def _strings(obj: Any, path: str = "$"):
    """Yield (path, string) for every string in a JSON-like object, keys included."""
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, bytes):
        yield path, obj.decode("utf-8", errors="replace")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _strings(key, f"{path}.<key>")
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(obj, list | tuple | set | frozenset):
        for index, value in enumerate(obj):
            yield from _strings(value, f"{path}[{index}]")


def assert_no_secrets(obj: Any) -> None:
    """Fail, naming the sample and where it sits, if any sample secret is in `obj`.

    Needles are also looked for in their JSON-escaped form, so a secret that was
    serialised into a string (a prompt holding a JSON payload) is still found.
    """
    for path, text in _strings(obj):
        for name, needles in SECRET_NEEDLES.items():
            for needle in needles:
                forms = {
                    needle,
                    json.dumps(needle)[1:-1],
                    json.dumps(needle, ensure_ascii=False)[1:-1],
                }
                if any(form in text for form in forms):
                    raise AssertionError(
                        f"secret sample {name!r} leaked at {path}: {text[:200]!r}"
                    )
