"""What the SDK-backed chat clients share, so the vendors cannot drift apart.

`openai_chat.OpenAICompatibleLLM` and `anthropic_chat.AnthropicLLM` differ only in
how one request is sent and how a reply or a stream event is read. The connection
pool, the retry policy, the mapping of SDK exceptions (with secrets redacted) and the
two `LLMClient` methods built on those steps live here once.
"""

from __future__ import annotations

import importlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar, Required, TypedDict, TypeVar

from autoskill_site.metrics import count_upstream_error
from autoskill_site.providers.embeddings import public_url
from autoskill_site.providers.llm import (
    LLMError,
    LLMReply,
    Message,
    llm_error_from_sdk,
    with_retries,
)

T = TypeVar("T")
# (text, finish_reason, usage) read from one non-streamed vendor response.
ReplyParts = tuple[str, str | None, dict[str, int]]


def sdk_error_reason(exc: Exception) -> str:
    """The metrics label of a failed SDK call: its HTTP status, timeout or network."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return str(status)
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    return "network" if "Connection" in name else "error"


@dataclass(frozen=True)
class ChatCall:
    """One call's options as `complete`/`stream` received them (None: the default)."""

    model: str | None
    temperature: float
    max_tokens: int | None
    json_mode: bool
    stream: bool
    timeout: float | None


class ClientOptions(TypedDict, total=False):
    """The constructor options every SDK client takes (`SDKChatClient.__init__`)."""

    base_url: Required[str]
    model: Required[str]
    api_key: str
    extra_body: Mapping[str, Any] | None
    max_tokens: int | None
    timeout: float
    retries: int
    backoff: float
    max_backoff: float


class SDKChatClient(ABC):
    """Base of the clients that talk to a vendor through its official SDK.

    Subclasses name their SDK and implement `_sdk_client`, `_call`, `_read_reply`
    and `_deltas`; the SDK's own retries must stay off so `with_retries` owns the
    policy.
    """

    provider: str
    offline = False
    # The SDK is imported lazily, so the offline default never loads a vendor package.
    sdk_module: ClassVar[str]
    sdk_error: ClassVar[str]  # the SDK's base exception class
    endpoint_kind: ClassVar[str]  # "chat" or "messages", for error messages
    default_max_tokens: ClassVar[int | None] = None
    key_required_by: ClassVar[str] = ""  # vendor name when a key is mandatory
    # A path the SDK appends itself; cut from a pasted base URL so it is not doubled.
    sdk_adds_path: ClassVar[str] = ""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        extra_body: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        import httpx2

        if not base_url:
            raise ValueError("base_url is required (no vendor URL is assumed).")
        if not model:
            raise ValueError("model is required (no vendor model is assumed).")
        if self.key_required_by and not api_key:
            raise ValueError(f"api_key is required for {self.key_required_by}.")
        root = base_url.rstrip("/").removesuffix(self.sdk_adds_path)
        self.model = model
        self.base_url = public_url(root)
        self.max_tokens = max_tokens or self.default_max_tokens
        self.extra_body = dict(extra_body or {})
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._api_key = api_key
        self._http = httpx2.Client(trust_env=False, timeout=timeout)
        # A client dropped without close() still releases its pooled sockets.
        weakref.finalize(self, self._http.close)
        self._client = self._sdk_client(root)

    def close(self) -> None:
        self._http.close()

    # -- vendor steps --------------------------------------------------------
    @abstractmethod
    def _sdk_client(self, base_url: str) -> Any:
        """The vendor SDK client on `self._http`, with its own retries off."""

    @abstractmethod
    def _call(self, messages: Sequence[Message], call: ChatCall) -> Any:
        """The vendor response (or event stream), retried with `_retrying`."""

    @abstractmethod
    def _read_reply(self, response: Any, *, json_mode: bool) -> ReplyParts:
        """Text, finish reason and token usage of a non-streamed response."""

    @abstractmethod
    def _deltas(self, events: Any) -> Iterator[str]:
        """Text pieces of an event stream, in order."""

    # -- shared policy -------------------------------------------------------
    def _sdk(self) -> ModuleType:
        return importlib.import_module(self.sdk_module)

    def _secrets(self) -> list[str]:
        """Everything an error message must never show."""
        return [self._api_key]

    def _where(self) -> str:
        return f"The {self.provider} {self.endpoint_kind} endpoint {self.base_url}"

    def _error(self, exc: Exception, *, model: str, timeout: float | None) -> LLMError:
        count_upstream_error(provider=self.provider, reason=sdk_error_reason(exc))
        return llm_error_from_sdk(
            exc,
            sdk=self._sdk(),
            where=self._where(),
            model=model,
            timeout=timeout or self.timeout,
            secrets=self._secrets(),
        )

    @contextmanager
    def _sdk_errors(self, *, model: str, timeout: float | None) -> Iterator[None]:
        """Turn the SDK's exceptions raised inside the block into `LLMError`s."""
        sdk_error = getattr(self._sdk(), self.sdk_error)
        try:
            yield
        except sdk_error as exc:
            raise self._error(exc, model=model, timeout=timeout) from None

    def _retrying(self, call: Callable[[], T]) -> T:
        return with_retries(
            call, retries=self.retries, base=self.backoff, cap=self.max_backoff
        )

    # -- LLMClient -----------------------------------------------------------
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
        """One reply; `json_mode` asks for one JSON object in the vendor's own way."""
        call = ChatCall(model, temperature, max_tokens, json_mode, False, timeout)
        response = self._call(messages, call)
        text, finish_reason, usage = self._read_reply(response, json_mode=json_mode)
        return LLMReply(
            text=text,
            model=str(getattr(response, "model", None) or model or self.model),
            provider=self.provider,
            finish_reason=finish_reason,
            usage=usage,
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """Text deltas as they arrive; failures before the first one are retried."""
        call = ChatCall(model, temperature, max_tokens, False, True, timeout)
        events = self._call(messages, call)
        try:
            # Text already yielded cannot be taken back, so mid-stream errors end here.
            with self._sdk_errors(model=model or self.model, timeout=timeout):
                yield from self._deltas(events)
        finally:
            events.close()
