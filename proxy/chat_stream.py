"""Relay an upstream SSE answer to the client, chunk by chunk.

Upstream chunks go out as they arrive, byte for byte, except the first, which gains
the `autoskill` object. While the upstream is silent, `: keep-alive` comments keep
proxies and load balancers from closing the connection. When the upstream finishes,
extraction is queued and one final chunk (no choices, the `autoskill` object with
the job id) precedes `data: [DONE]`; the usage audit is queued after that, so the
reply itself never waits for learning. A failure mid-stream becomes one chunk with
an `error` object (the OpenAI SDK raises it), never assistant text. If the client
goes away, the generator is closed and the upstream request with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from autoskill_site.providers.upstream import UpstreamError, UpstreamStream

__all__ = ["Reply", "relay_chat_stream", "sse_payloads", "truncated_stream_error"]

logger = logging.getLogger(__name__)
KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_END = object()


def truncated_stream_error() -> UpstreamError:
    return UpstreamError(
        502,
        "The upstream closed the stream before the reply was finished (no "
        "finish_reason and no [DONE]); the text so far is incomplete.",
        code="upstream_truncated",
    )


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n\n"


class Reply:
    """The assistant reply assembled from chunks (choice 0), for learning."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.parts: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        # Whether choice 0 ended with a finish_reason: a stream that closes without
        # one (and without [DONE]) was cut off, and its text is not a whole reply.
        self.finished = False

    def add(self, chunk: dict[str, Any]) -> None:
        self.id = self.id or str(chunk.get("id") or "")
        self.model = self.model or str(chunk.get("model") or "")
        self.created = self.created or int(chunk.get("created") or 0)
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finished = True
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.parts.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    slot = self.tool_calls.setdefault(int(call.get("index", 0)), {})
                    fn = call.get("function") or {}
                    slot["id"] = slot.get("id") or call.get("id")
                    slot["name"] = slot.get("name") or fn.get("name")
                    slot["arguments"] = slot.get("arguments", "") + str(
                        fn.get("arguments") or ""
                    )

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.get("id"),
                    "type": "function",
                    "function": {
                        "name": call.get("name"),
                        "arguments": call["arguments"],
                    },
                }
                for _, call in sorted(self.tool_calls.items())
            ]
        return message


async def sse_payloads(
    stream: UpstreamStream, *, keepalive: float
) -> AsyncIterator[str | None]:
    """The upstream's `data:` payloads; None every `keepalive` seconds of silence.

    `keepalive <= 0` sends no keep-alives.

    A reader task fills a queue and a single pending `get` is awaited with a
    timeout, so a keep-alive tick never loses or reorders a chunk.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=256)

    async def read() -> None:
        try:
            async for payload in stream:
                await queue.put(payload)
        except UpstreamError as exc:
            await queue.put(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the client as an error chunk
            logger.exception("Upstream stream failed")
            await queue.put(
                UpstreamError(502, f"The upstream stream failed: {type(exc).__name__}.")
            )
        await queue.put(_END)

    reader = asyncio.create_task(read())
    pending: asyncio.Task[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {pending}, timeout=keepalive if keepalive > 0 else None
            )
            if not done:
                yield None
                continue
            item, pending = pending.result(), None
            if item is _END:
                return
            if isinstance(item, UpstreamError):
                raise item
            yield item
    finally:
        for task in (pending, reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await stream.aclose()


def _malformed(payload: str) -> UpstreamError:
    return UpstreamError(
        502,
        f"The upstream sent a malformed stream chunk: {payload[:120]!r}.",
        code="upstream_malformed_chunk",
    )


async def relay_chat_stream(
    *,
    stream: UpstreamStream,
    first_extra: Callable[[], dict[str, Any]],
    finish: Callable[[Reply], Awaitable[dict[str, Any]]],
    after: Callable[[Reply], None],
    keepalive: float,
) -> AsyncIterator[bytes]:
    """SSE bytes for the client.

    `first_extra()` is the `autoskill` object of the first chunk; `finish(reply)`
    runs after the upstream's last chunk and returns the final one's; `after(reply)`
    runs once `[DONE]` is out.
    """
    reply = Reply()
    first = True
    done = False
    try:
        async with aclosing(sse_payloads(stream, keepalive=keepalive)) as payloads:
            async for payload in payloads:
                if payload is None:
                    yield KEEPALIVE
                    continue
                if payload == "[DONE]":
                    done = True
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    raise _malformed(payload) from None
                if not isinstance(chunk, dict):
                    raise _malformed(payload)
                if isinstance(chunk.get("error"), dict):
                    # The upstream's own in-band error: relayed as it is.
                    yield sse({"error": chunk["error"]})
                    yield DONE
                    return
                reply.add(chunk)
                if first:
                    first = False
                    yield sse({**chunk, "autoskill": first_extra()})
                else:
                    yield b"data: " + payload.encode("utf-8") + b"\n\n"
        if not (done or reply.finished):
            raise truncated_stream_error()
    except UpstreamError as exc:
        yield sse(exc.body())
        yield DONE
        return
    final = await finish(reply)
    yield sse(
        {
            "id": reply.id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "choices": [],
            "autoskill": final,
        }
    )
    yield DONE
    after(reply)
