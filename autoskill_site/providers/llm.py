"""The one interface every chat-model client implements, and its error and retry policy.

Apps depend on `LLMClient` only; which vendor answers is decided once, from settings,
by `autoskill_site.providers.llm_config.llm_from_settings`. Messages are OpenAI-style
dicts (`{"role": ..., "content": ...}`) on every provider, so callers never branch on
the vendor.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType
from typing import Any, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")

Message = Mapping[str, Any]
# Besides 5xx: request timeout and rate limit; the same request may succeed later.
RETRYABLE_STATUSES = frozenset({408, 429})


class LLMPurpose(StrEnum):
    """Why a call is made; background purposes may use the cheaper model."""

    CHAT = "chat"
    EXTRACTION = "extraction"
    REWRITE = "rewrite"
    SELECTION = "selection"
    AUDIT = "audit"


@dataclass(frozen=True)
class LLMReply:
    text: str
    model: str
    provider: str
    finish_reason: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)


class LLMError(Exception):
    """A model call failed. `retryable` marks 429 / 5xx / timeouts / lost connections.

    Messages never contain the API key or credentials embedded in the base URL.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        # Seconds the server asked to wait (Retry-After); `with_retries` honours it, capped.
        self.retry_after = retry_after


@runtime_checkable
class LLMClient(Protocol):
    provider: str  # "openai", "generic", "dashscope", "glm", "internlm", "anthropic", "offline"
    model: str
    offline: bool  # True only for the built-in heuristic provider

    def complete(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        json_mode: bool = False,
        timeout: float | None = None,
    ) -> LLMReply:
        """One reply. `json_mode` asks for a JSON object where the vendor supports it."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Text deltas as they arrive; joined they equal `complete(...).text`."""
        ...


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Full-jitter exponential backoff (attempt counts from 0)."""
    return random.uniform(0, min(cap, base * (2**attempt)))  # noqa: S311


def with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    base: float = 0.5,
    cap: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying retryable `LLMError`s up to `retries` more times.

    A server-sent Retry-After lengthens the wait, but never beyond `cap`.
    """
    attempt = 0
    while True:
        try:
            return call()
        except LLMError as exc:
            if not exc.retryable or attempt >= retries:
                raise
            delay = backoff_delay(attempt, base=base, cap=cap)
            if exc.retry_after is not None:
                delay = max(delay, min(max(exc.retry_after, 0.0), cap))
            sleep(delay)
            attempt += 1


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or a numeric `retry-after` header, if any."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue  # an HTTP-date: rare for model APIs, and the backoff still applies
        if value >= 0:
            return value * scale
    return None


# -- helpers shared by the SDK-based clients -----------------------------------

_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


def strip_code_fences(text: str) -> str:
    """The body of a reply wrapped in one ``` fence; other text unchanged."""
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text.strip()


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ***, cut to a readable length."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:400]


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        body = error.get("message", error) if isinstance(error, dict) else error
    return str(body if body not in (None, "") else exc)


def llm_error_from_sdk(
    exc: Exception,
    *,
    sdk: ModuleType,
    where: str,
    model: str,
    timeout: float,
    secrets: Iterable[str],
) -> LLMError:
    """Map an `openai`/`anthropic` SDK exception onto our retry vocabulary.

    Both SDKs share the Stainless exception tree, so one mapping serves both.
    `where` names the provider and the credential-free URL.
    """
    secrets = list(secrets)
    if isinstance(exc, sdk.APITimeoutError):
        return LLMError(
            f"{where} gave no answer within {timeout:g} s (AUTOSKILL_LLM_TIMEOUT).",
            retryable=True,
        )
    if isinstance(exc, sdk.APIConnectionError):
        cause = redact(str(exc.__cause__ or exc), secrets)
        return LLMError(
            f"{where} could not be reached ({cause}). Check the base URL and that "
            "the server is running.",
            retryable=True,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        detail = redact(_detail(exc), secrets)
        retryable = status in RETRYABLE_STATUSES or status >= 500
        if status in (401, 403):
            hint = "Check the API key (AUTOSKILL_LLM_API_KEY or the provider's key variable)."
        elif status == 404:
            hint = (
                f"Check the base URL (it usually ends in /v1) and the model {model!r}."
            )
        elif retryable:
            hint = "The server is busy or failing; the call is retried with backoff."
        else:
            hint = f"Check the model {model!r} and AUTOSKILL_LLM_EXTRA_BODY."
        return LLMError(
            f"{where} answered HTTP {status}: {detail}. {hint}",
            status=status,
            retryable=retryable,
            retry_after=parse_retry_after(exc.response.headers) if retryable else None,
        )
    return LLMError(f"{where} failed: {redact(str(exc), secrets)}")
