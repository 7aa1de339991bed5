"""OpenAI-format answers from providers that do not speak Chat Completions.

The built-in `offline` provider and Anthropic's Messages API are `LLMClient`s with
`complete()`/`stream()`; this module runs them off the event loop and wraps their
text in `chat.completion` bodies and `chat.completion.chunk` SSE payloads, so the
proxy relays them exactly as it relays an OpenAI-compatible server. What those
clients cannot do (tools, several choices, JSON schemas) is refused with a 400 that
names the parameter, never silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from autoskill_site.providers.llm import LLMClient, LLMError, LLMPurpose
from autoskill_site.providers.llm_config import LLMConfig, llm_from_settings
from autoskill_site.providers.upstream import UpstreamError

__all__ = ["SynthesizedUpstream"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
_DONE = object()


def _finish_reason(raw: str | None) -> str:
    return _FINISH.get(raw or "", raw or "stop")


def _usage(raw: Mapping[str, int]) -> dict[str, int]:
    prompt = int(raw.get("prompt_tokens", raw.get("input_tokens", 0)) or 0)
    completion = int(raw.get("completion_tokens", raw.get("output_tokens", 0)) or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _unsupported(provider: str, param: str, what: str) -> UpstreamError:
    return UpstreamError(
        400,
        f"The {provider} provider cannot {what}; configure an OpenAI-compatible "
        "provider (AUTOSKILL_LLM_PROVIDER) to use `{param}`.".replace("{param}", param),
        code="unsupported_parameter",
        param=param,
    )


def _from_llm_error(exc: LLMError, provider: str) -> UpstreamError:
    status = exc.status
    if status in (400, 404, 409, 413, 422, 429):
        return UpstreamError(status, str(exc), upstream_status=status)
    if status in (401, 403):
        return UpstreamError(
            502, str(exc), code="upstream_auth_failed", upstream_status=status
        )
    if status is None and "no answer within" in str(exc):
        return UpstreamError(504, str(exc), code="upstream_timeout")
    code = "upstream_unreachable" if status is None else "upstream_error"
    return UpstreamError(502, str(exc), code=code, upstream_status=status)


class _SynthStream:
    """Chunk payloads produced from `LLMClient.stream` running in a worker thread."""

    def __init__(
        self,
        owner: SynthesizedUpstream,
        pieces: Iterator[str],
        *,
        model: str,
        include_usage: bool,
    ) -> None:
        self._owner = owner
        self._pieces = pieces
        self._model = model
        self._include_usage = include_usage
        self._id = f"chatcmpl-{uuid.uuid4().hex}"
        self._created = int(time.time())
        self._stop = threading.Event()
        self._closed = False

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> str:
        return json.dumps(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            },
            ensure_ascii=False,
        )

    def _pump(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        try:
            for piece in self._pieces:
                if self._stop.is_set():
                    break
                loop.call_soon_threadsafe(queue.put_nowait, piece)
        except LLMError as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            # Closing the generator closes the vendor's HTTP stream too.
            close = getattr(self._pieces, "close", None)
            if callable(close):
                close()
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        worker = threading.Thread(
            target=self._pump, args=(loop, queue), name="autoskill-synth-stream",
            daemon=True,
        )  # fmt: skip
        worker.start()
        yield self._chunk({"role": "assistant", "content": ""}, None)
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, LLMError):
                raise _from_llm_error(item, self._owner.provider)
            yield self._chunk({"content": item}, None)
        if self._stop.is_set():
            return
        yield self._chunk({}, "stop")
        if self._include_usage and self._owner.provider == "offline":
            # The offline provider spends no tokens; zero is its true usage. Other
            # providers' streams report no counts, so no usage chunk is invented.
            usage = json.loads(self._chunk({}, None))
            usage["choices"], usage["usage"] = [], _usage({})
            yield json.dumps(usage)
        yield "[DONE]"

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop.set()
            self._owner.open_streams -= 1


class SynthesizedUpstream:
    """`offline` or `anthropic` behind the Chat Completions protocol."""

    supports_tools = False

    def __init__(self, config: LLMConfig, client: LLMClient | None = None) -> None:
        self.provider = config.provider
        self._client = client or llm_from_settings(
            LLMPurpose.CHAT, provider=config.provider, model=config.model or None
        )
        self.model = self._client.model
        self.open_streams = 0

    def _check(self, body: Mapping[str, Any], *, stream: bool) -> bool:
        """Refuse what this provider cannot do; True when JSON mode is asked for."""
        for param in ("tools", "functions"):
            if body.get(param):
                raise _unsupported(self.provider, param, "call tools")
        if isinstance(body.get("n"), int) and body["n"] > 1:
            raise _unsupported(self.provider, "n", "return several choices")
        fmt = body.get("response_format")
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind in (None, "text"):
            return False
        if kind == "json_object" and not stream and self.provider != "offline":
            return True
        raise _unsupported(self.provider, "response_format", f"answer in {kind} mode")

    def _model(self, body: Mapping[str, Any]) -> str | None:
        # The offline provider has one model; any name a client sends is cosmetic.
        if self.provider == "offline":
            return None
        model = body.get("model")
        return model if isinstance(model, str) and model else None

    @staticmethod
    def _limits(body: Mapping[str, Any]) -> dict[str, Any]:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        temperature = body.get("temperature")
        return {
            "max_tokens": limit if isinstance(limit, int) and limit > 0 else None,
            "temperature": float(temperature)
            if isinstance(temperature, int | float)
            else 1.0,
        }

    async def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        json_mode = self._check(body, stream=False)
        try:
            reply = await asyncio.to_thread(
                self._client.complete,
                list(body.get("messages") or []),
                model=self._model(body),
                json_mode=json_mode,
                **self._limits(body),
            )
        except LLMError as exc:
            raise _from_llm_error(exc, self.provider) from None
        except ValueError as exc:
            raise UpstreamError(400, str(exc), code="invalid_value") from None
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": _finish_reason(reply.finish_reason),
                }
            ],
            "usage": _usage(reply.usage),
        }

    async def chat_stream(self, body: dict[str, Any]) -> _SynthStream:
        self._check(body, stream=True)
        limits = self._limits(body)
        pieces = self._client.stream(
            list(body.get("messages") or []),
            model=self._model(body),
            temperature=limits["temperature"],
            max_tokens=limits["max_tokens"],
        )
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and bool(
            options.get("include_usage")
        )
        self.open_streams += 1
        return _SynthStream(self, pieces, model=self.model, include_usage=include_usage)

    async def models(self) -> list[dict[str, Any]]:
        return [{"id": self.model, "object": "model", "owned_by": self.provider}]

    async def aclose(self) -> None:
        """Nothing pooled here: the LLMClient belongs to the settings cache."""
