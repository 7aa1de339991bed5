"""Anthropic's Messages API through the `anthropic` package.

Callers speak OpenAI-style messages everywhere; this module translates them: system
messages move into `system`, and same-role neighbours are merged, because the
Messages API wants alternating user/assistant turns. `temperature` is accepted for
the shared interface but not sent: the pinned API version has no such parameter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from autoskill_site.providers.llm import Message, strip_code_fences
from autoskill_site.providers.sdk_chat import ChatCall, ReplyParts, SDKChatClient

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


class AnthropicLLM(SDKChatClient):
    """Claude models via the Messages API, with the shared retry and error policy.

    With `json_mode` the model is told to answer with one JSON object, and a code
    fence around it is stripped.
    """

    provider = "anthropic"
    sdk_module = "anthropic"
    sdk_error = "AnthropicError"
    endpoint_kind = "messages"
    default_max_tokens = DEFAULT_MAX_TOKENS
    key_required_by = "Anthropic"
    # A pasted ".../v1" would otherwise become /v1/v1/messages.
    sdk_adds_path = "/v1"

    def _sdk_client(self, base_url: str) -> Any:
        from anthropic import Anthropic

        # An explicit key stops the SDK from reading ANTHROPIC_* env and profiles.
        return Anthropic(
            base_url=base_url,
            api_key=self._api_key,
            timeout=self.timeout,
            max_retries=0,
            http_client=self._http,
        )

    def __repr__(self) -> str:
        return f"AnthropicLLM(model={self.model!r}, base_url={self.base_url!r})"

    def _call(self, messages: Sequence[Message], call: ChatCall) -> Any:
        # `call.temperature` is not sent: see the module docstring.
        system, turns = to_anthropic(messages, json_mode=call.json_mode)
        if not turns:
            raise ValueError("Anthropic needs at least one user or assistant message.")
        kwargs: dict[str, Any] = {
            "model": call.model or self.model,
            "max_tokens": call.max_tokens or self.max_tokens,
            "messages": turns,
            "timeout": call.timeout or self.timeout,
        }
        if system:
            kwargs["system"] = system
        if call.stream:
            kwargs["stream"] = True
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body

        def attempt() -> Any:
            with self._sdk_errors(model=kwargs["model"], timeout=call.timeout):
                return self._client.messages.create(**kwargs)

        return self._retrying(attempt)

    def _read_reply(self, response: Any, *, json_mode: bool) -> ReplyParts:
        text = "".join(
            str(block.text)
            for block in getattr(response, "content", None) or []
            if getattr(block, "type", "") == "text"
        ).strip()
        return (
            strip_code_fences(text) if json_mode else text,
            getattr(response, "stop_reason", None),
            _usage(getattr(response, "usage", None)),
        )

    def _deltas(self, events: Any) -> Iterator[str]:
        for event in events:
            if getattr(event, "type", "") != "content_block_delta":
                continue
            delta = event.delta
            if getattr(delta, "type", "") == "text_delta" and delta.text:
                yield delta.text
