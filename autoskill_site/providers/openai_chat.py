"""Chat Completions over the `openai` package, for every OpenAI-compatible vendor.

OpenAI, DashScope (Qwen), Zhipu BigModel (GLM), InternLM, vLLM, Ollama or any other
`base_url` speak the same protocol; their differences (JWT auth, `thinking_mode`,
servers that reject `response_format`) are switches on this one client.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from autoskill_site.providers.embeddings import public_url
from autoskill_site.providers.glm_auth import (
    GLMTokenCache,
    TimeUnit,
    resolve_auth_mode,
)
from autoskill_site.providers.llm import (
    LLMError,
    LLMReply,
    Message,
    llm_error_from_sdk,
    with_retries,
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


class OpenAICompatibleLLM:
    """One OpenAI-compatible endpoint, with our timeouts, retries and fallbacks.

    The SDK's own retries are off (`max_retries=0`): `with_retries` owns the policy,
    so every vendor gets the same jittered backoff and Retry-After handling.
    """

    offline = False

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        provider: str = "generic",
        auth_mode: str = "api_key",
        jwt_time_unit: TimeUnit = "ms",
        thinking_mode: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        import httpx2
        from openai import Omit, OpenAI

        if not base_url:
            raise ValueError("base_url is required (no vendor URL is assumed).")
        if not model:
            raise ValueError("model is required (no vendor model is assumed).")
        self.provider = provider
        self.model = model
        self.base_url = public_url(base_url.rstrip("/"))
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_tokens = max_tokens or None
        self.extra_body = dict(extra_body or {})
        self._api_key = api_key
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
        self._http = httpx2.Client(trust_env=False, timeout=timeout)
        # A client dropped without close() still releases its pooled sockets.
        weakref.finalize(self, self._http.close)
        # The key is sent per request (see `_headers`); the SDK gets none, and the
        # organisation/project headers it would read from OPENAI_* env are omitted.
        self._client = OpenAI(
            base_url=base_url,
            api_key="",
            admin_api_key="",
            timeout=timeout,
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

    def close(self) -> None:
        self._http.close()

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

    def _where(self) -> str:
        return f"The {self.provider} chat endpoint {self.base_url}"

    def _request(
        self,
        messages: Sequence[Message],
        *,
        model: str,
        temperature: float,
        max_tokens: int | None,
        json_mode: bool,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**self.extra_body}
        if self._thinking_mode is not None:
            body["thinking_mode"] = self._thinking_mode
        sent = [dict(message) for message in messages]
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": sent,
            "temperature": temperature,
        }
        if json_mode:
            if not any("json" in str(m.get("content", "")).lower() for m in sent):
                sent.insert(0, {"role": "system", "content": _JSON_NOTE})
            if self.json_mode_supported:
                kwargs["response_format"] = {"type": "json_object"}
        limit = max_tokens or self.max_tokens
        if limit:
            kwargs["max_tokens"] = limit
        if stream:
            kwargs["stream"] = True
        if body:
            kwargs["extra_body"] = body
        return kwargs

    def _send(self, kwargs: Mapping[str, Any], timeout: float | None) -> Any:
        """One HTTP attempt; SDK errors become `LLMError`s."""
        import openai

        try:
            return self._client.chat.completions.create(
                **kwargs, extra_headers=self._headers(), timeout=timeout or self.timeout
            )
        except openai.OpenAIError as exc:
            raise llm_error_from_sdk(
                exc,
                sdk=openai,
                where=self._where(),
                model=str(kwargs.get("model")),
                timeout=timeout or self.timeout,
                secrets=self._secrets(),
            ) from None

    def _attempt(
        self, build: Callable[[], dict[str, Any]], timeout: float | None
    ) -> Any:
        """One attempt, plus at most one fallback per vendor quirk on a 400."""
        while True:
            kwargs = build()
            try:
                return self._send(kwargs, timeout)
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
                    result = self._send(retry, timeout)
                    # Remembered only once the plain request worked: the 400 was
                    # then about JSON mode, not about the prompt.
                    with self._lock:
                        self.json_mode_supported = False
                    return result
                raise

    def _call(
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
        if not messages:
            raise ValueError("messages must not be empty.")

        def build() -> dict[str, Any]:
            return self._request(
                messages,
                model=model or self.model,
                temperature=temperature,
                max_tokens=max_tokens,
                json_mode=json_mode,
                stream=stream,
            )

        return with_retries(
            lambda: self._attempt(build, timeout),
            retries=self.retries,
            base=self.backoff,
            cap=self.max_backoff,
        )

    # -- LLMClient ---------------------------------------------------------
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
        """One reply; `json_mode` sends `response_format` unless the server refused it."""
        response = self._call(
            messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_mode=json_mode,
            stream=False,
            timeout=timeout,
        )
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
        return LLMReply(
            text=text,
            model=str(getattr(response, "model", None) or model or self.model),
            provider=self.provider,
            finish_reason=choices[0].finish_reason,
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
        """Content deltas from the SSE stream; failures before the first delta are retried."""
        import openai

        chunks = self._call(
            messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_mode=False,
            stream=True,
            timeout=timeout,
        )
        produced = False
        reasoning: list[str] = []
        try:
            for chunk in chunks:
                for choice in chunk.choices or []:
                    delta = choice.delta
                    piece = getattr(delta, "content", None)
                    if piece:
                        produced = True
                        yield piece
                    elif extra := getattr(delta, "reasoning_content", None):
                        reasoning.append(str(extra))
        except openai.OpenAIError as exc:
            # Mid-stream: already-yielded text cannot be taken back, so no retry here.
            raise llm_error_from_sdk(
                exc,
                sdk=openai,
                where=self._where(),
                model=model or self.model,
                timeout=timeout or self.timeout,
                secrets=self._secrets(),
            ) from None
        finally:
            chunks.close()
        if not produced and (answer := _as_json_text("".join(reasoning))):
            yield answer
