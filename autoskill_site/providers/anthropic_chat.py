"""Anthropic's Messages API through the `anthropic` package.

Callers speak OpenAI-style messages everywhere; this module translates them: system
messages move into `system`, and same-role neighbours are merged, because the
Messages API wants alternating user/assistant turns. `temperature` is accepted for
the shared interface but not sent: the pinned API version has no such parameter.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from autoskill_site.providers.embeddings import public_url
from autoskill_site.providers.llm import (
    LLMError,
    LLMReply,
    Message,
    llm_error_from_sdk,
    strip_code_fences,
    with_retries,
)

DEFAULT_MAX_TOKENS = 4096
# The Messages API has no response_format; the instruction and fence-stripping
# below are the documented way to get bare JSON.
JSON_INSTRUCTION = (
    "Answer with exactly one JSON object and nothing else: no prose before or "
    "after it and no Markdown code fences."
)


def _text_of(content: Any) -> str:
    """Plain text of an OpenAI message content (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type", "text") == "text"
        ]
        return "\n".join(part for part in parts if part)
    return "" if content is None else str(content)


def to_anthropic(
    messages: Sequence[Message], *, json_mode: bool = False
) -> tuple[str, list[dict[str, str]]]:
    """(system, messages) for the Messages API, from OpenAI-style messages."""
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for message in messages:
        role = str(message.get("role", "user"))
        text = _text_of(message.get("content"))
        if role in ("system", "developer"):
            if text.strip():
                system.append(text)
            continue
        # Tool results and other roles are context supplied to the model.
        role = "assistant" if role == "assistant" else "user"
        if not text.strip():
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    if json_mode:
        system.append(JSON_INSTRUCTION)
    return "\n\n".join(system), turns


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    counts = {
        name: int(value)
        for name in ("input_tokens", "output_tokens")
        if isinstance(value := getattr(usage, name, None), int)
    }
    if len(counts) == 2:
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return counts


class AnthropicLLM:
    """Claude models via the Messages API, with the shared retry and error policy."""

    provider = "anthropic"
    offline = False

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str,
        extra_body: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        import httpx2
        from anthropic import Anthropic

        if not base_url:
            raise ValueError("base_url is required (no vendor URL is assumed).")
        if not model:
            raise ValueError("model is required (no vendor model is assumed).")
        if not api_key:
            raise ValueError("api_key is required for Anthropic.")
        # The SDK appends /v1/messages itself; a pasted ".../v1" would double it.
        root = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.base_url = public_url(root)
        self.max_tokens = max_tokens or DEFAULT_MAX_TOKENS
        self.extra_body = dict(extra_body or {})
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._api_key = api_key
        self._http = httpx2.Client(trust_env=False, timeout=timeout)
        # A client dropped without close() still releases its pooled sockets.
        weakref.finalize(self, self._http.close)
        # An explicit key stops the SDK from reading ANTHROPIC_* env and profiles.
        self._client = Anthropic(
            base_url=root,
            api_key=api_key,
            timeout=timeout,
            max_retries=0,
            http_client=self._http,
        )

    def __repr__(self) -> str:
        return f"AnthropicLLM(model={self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def _where(self) -> str:
        return f"The anthropic messages endpoint {self.base_url}"

    def _create(
        self,
        messages: Sequence[Message],
        *,
        model: str | None,
        temperature: float,
        max_tokens: int | None,
        json_mode: bool,
        stream: bool,
        timeout: float | None,
    ) -> Any:
        import anthropic

        system, turns = to_anthropic(messages, json_mode=json_mode)
        if not turns:
            raise ValueError("Anthropic needs at least one user or assistant message.")
        kwargs: dict[str, Any] = {
            "model": model or self.model,
            "max_tokens": max_tokens or self.max_tokens,
            "messages": turns,
            "timeout": timeout or self.timeout,
        }
        if system:
            kwargs["system"] = system
        if stream:
            kwargs["stream"] = True
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body

        def attempt() -> Any:
            try:
                return self._client.messages.create(**kwargs)
            except anthropic.AnthropicError as exc:
                raise self._error(exc, model=kwargs["model"], timeout=timeout) from None

        return with_retries(
            attempt, retries=self.retries, base=self.backoff, cap=self.max_backoff
        )

    def _error(self, exc: Exception, *, model: str, timeout: float | None) -> LLMError:
        import anthropic

        return llm_error_from_sdk(
            exc,
            sdk=anthropic,
            where=self._where(),
            model=model,
            timeout=timeout or self.timeout,
            secrets=[self._api_key],
        )

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
        """One reply; with `json_mode` the model is told to answer with one JSON object."""
        response = self._create(
            messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_mode=json_mode,
            stream=False,
            timeout=timeout,
        )
        text = "".join(
            str(block.text)
            for block in getattr(response, "content", None) or []
            if getattr(block, "type", "") == "text"
        ).strip()
        return LLMReply(
            text=strip_code_fences(text) if json_mode else text,
            model=str(getattr(response, "model", None) or model or self.model),
            provider=self.provider,
            finish_reason=getattr(response, "stop_reason", None),
            usage=_usage(getattr(response, "usage", None)),
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
        """Text deltas from the event stream; failures before the first are retried."""
        import anthropic

        events = self._create(
            messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_mode=False,
            stream=True,
            timeout=timeout,
        )
        try:
            for event in events:
                if getattr(event, "type", "") != "content_block_delta":
                    continue
                delta = event.delta
                if getattr(delta, "type", "") == "text_delta" and delta.text:
                    yield delta.text
        except anthropic.AnthropicError as exc:
            # Text already yielded cannot be taken back, so mid-stream errors end here.
            raise self._error(exc, model=model or self.model, timeout=timeout) from None
        finally:
            events.close()
