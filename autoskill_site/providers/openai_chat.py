"""Chat Completions over the `openai` package, for every OpenAI-compatible vendor.

OpenAI, DashScope (Qwen), Zhipu BigModel (GLM), InternLM, vLLM, Ollama or any other
`base_url` speak the same protocol; their differences (JWT auth, `thinking_mode`,
servers that reject `response_format`) are switches on this one client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Unpack

from autoskill_site.providers.glm_auth import (
    GLMTokenCache,
    TimeUnit,
    resolve_auth_mode,
)
from autoskill_site.providers.llm import LLMError, Message
from autoskill_site.providers.sdk_chat import (
    ChatCall,
    ClientOptions,
    ReplyParts,
    SDKChatClient,
)

# DashScope and OpenAI refuse JSON mode unless a message mentions JSON.
_JSON_NOTE = "Answer with one JSON object."


def _as_json_text(text: str) -> str | None:
    """`text` when it is a JSON document, else None."""
    try:
        json.loads(text)
    except (TypeError, ValueError):
        return None
    return text.strip()


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {
        name: int(value)
        for name in names
        if isinstance(value := getattr(usage, name, None), int)
    }


class OpenAICompatibleLLM(SDKChatClient):
    """One OpenAI-compatible endpoint, with our timeouts, retries and fallbacks.

    The SDK's own retries are off (`max_retries=0`): `with_retries` owns the policy,
    so every vendor gets the same jittered backoff and Retry-After handling.
    `json_mode` sends `response_format` unless the server refused it before.
    """

    sdk_module = "openai"
    sdk_error = "OpenAIError"
    endpoint_kind = "chat"

    def __init__(
        self,
        *,
        provider: str = "generic",
        auth_mode: str = "api_key",
        jwt_time_unit: TimeUnit = "ms",
        thinking_mode: bool | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        """`options` are the shared ones (`ClientOptions`); the key is optional here."""
        from openai import Omit

        super().__init__(**options)
        api_key = self._api_key
        self.provider = provider
        self._tokens = (
            GLMTokenCache(api_key, time_unit=jwt_time_unit)
            if api_key and resolve_auth_mode(auth_mode, api_key) == "jwt"
            else None
        )
        self.auth = "jwt" if self._tokens else ("api_key" if api_key else "none")
        # Vendor quirks learnt from 400 answers, remembered for this client's life.
        self._thinking_mode = thinking_mode
        self.json_mode_supported = True
        self._lock = threading.Lock()
        self._omit = Omit

    def _sdk_client(self, base_url: str) -> Any:
        from openai import Omit, OpenAI

        # The key is sent per request (see `_headers`); the SDK gets none, and the
        # organisation/project headers it would read from OPENAI_* env are omitted.
        return OpenAI(
            base_url=base_url,
            api_key="",
            admin_api_key="",
            timeout=self.timeout,
            max_retries=0,
            http_client=self._http,
            default_headers={"OpenAI-Organization": Omit(), "OpenAI-Project": Omit()},
            _enforce_credentials=False,
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(provider={self.provider!r}, model={self.model!r}, base_url={self.base_url!r})"

    @property
    def thinking_mode(self) -> bool | None:
        return self._thinking_mode

    # -- request building --------------------------------------------------
    def _headers(self) -> dict[str, Any]:
        # An explicit header also beats an Authorization line in OPENAI_CUSTOM_HEADERS,
        # which the SDK would otherwise send to whatever vendor this is.
        if self._tokens is not None:
            return {"Authorization": f"Bearer {self._tokens.token()}"}
        if self._api_key:
            return {"Authorization": f"Bearer {self._api_key}"}
        return {"Authorization": self._omit()}

    def _secrets(self) -> list[str]:
        secrets = [self._api_key, self._api_key.partition(".")[2]]
        if self._tokens is not None:
            secrets.append(self._tokens.current())
        return secrets

    def _request(self, messages: Sequence[Message], call: ChatCall) -> dict[str, Any]:
        """The SDK keyword arguments, rebuilt per attempt as learnt quirks change."""
        body: dict[str, Any] = {**self.extra_body}
        if self._thinking_mode is not None:
            body["thinking_mode"] = self._thinking_mode
        sent = [dict(message) for message in messages]
        kwargs: dict[str, Any] = {
            "model": call.model or self.model,
            "messages": sent,
            "temperature": call.temperature,
        }
        if call.json_mode:
            if not any("json" in str(m.get("content", "")).lower() for m in sent):
                sent.insert(0, {"role": "system", "content": _JSON_NOTE})
            if self.json_mode_supported:
                kwargs["response_format"] = {"type": "json_object"}
        limit = call.max_tokens or self.max_tokens
        if limit:
            kwargs["max_tokens"] = limit
        if call.stream:
            kwargs["stream"] = True
        if body:
            kwargs["extra_body"] = body
        return kwargs

    def _send(self, kwargs: Mapping[str, Any], timeout: float | None) -> Any:
        """One HTTP attempt; SDK errors become `LLMError`s."""
        with self._sdk_errors(model=str(kwargs.get("model")), timeout=timeout):
            return self._client.chat.completions.create(
                **kwargs, extra_headers=self._headers(), timeout=timeout or self.timeout
            )

    def _attempt(self, messages: Sequence[Message], call: ChatCall) -> Any:
        """One attempt, plus at most one fallback per vendor quirk on a 400."""
        while True:
            kwargs = self._request(messages, call)
            try:
                return self._send(kwargs, call.timeout)
            except LLMError as exc:
                if exc.status != 400:
                    raise
                message = str(exc).lower()
                if self._thinking_mode is not None and "thinking_mode" in message:
                    with self._lock:
                        self._thinking_mode = None
                    continue
                if "response_format" in kwargs:
                    retry = {k: v for k, v in kwargs.items() if k != "response_format"}
                    result = self._send(retry, call.timeout)
                    # Remembered only once the plain request worked: the 400 was
                    # then about JSON mode, not about the prompt.
                    with self._lock:
                        self.json_mode_supported = False
                    return result
                raise

    def _call(self, messages: Sequence[Message], call: ChatCall) -> Any:
        if not messages:
            raise ValueError("messages must not be empty.")
        return self._retrying(lambda: self._attempt(messages, call))

    # -- reading answers -----------------------------------------------------
    def _read_reply(self, response: Any, *, json_mode: bool) -> ReplyParts:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise LLMError(f"{self._where()} sent a reply without choices.")
        message = choices[0].message
        text = (getattr(message, "content", None) or "").strip()
        if not text:
            # Reasoning models may put the answer there; only a JSON answer is
            # taken, so a chain of thought never reaches the caller.
            text = (
                _as_json_text(getattr(message, "reasoning_content", None) or "") or ""
            )
        return text, choices[0].finish_reason, _usage(getattr(response, "usage", None))

    def _deltas(self, events: Any) -> Iterator[str]:
        produced = False
        reasoning: list[str] = []
        for chunk in events:
            for choice in chunk.choices or []:
                delta = choice.delta
                piece = getattr(delta, "content", None)
                if piece:
                    produced = True
                    yield piece
                elif extra := getattr(delta, "reasoning_content", None):
                    reasoning.append(str(extra))
        # As in `_read_reply`: reasoning is an answer only when it is JSON.
        if not produced and (answer := _as_json_text("".join(reasoning))):
            yield answer
