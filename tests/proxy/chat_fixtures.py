"""Shared helpers of the chat tests: the fake upstream, and driving a turn to its end.

Turns run their database work on pool threads, so tests that drive them use
`django_db(transaction=True)` and run each turn with `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from autoskill_site.providers.upstream import upstream_aclose_all
from proxy.chat_service import ChatTurn
from tests.fakes.openai_server import CHAT, Reply
from tests.proxy.live_server import use_fake_upstream


@pytest.fixture
def upstream(settings, fake_openai):  # noqa: ANN001, ANN201
    """The fake OpenAI server as the chat model (provider `generic`), rewrite off."""
    return use_fake_upstream(settings, fake_openai, top_k=3)


def turn_events(turn: ChatTurn) -> list[dict[str, Any]]:
    """Every event of `turn`, driven on a fresh event loop."""

    async def drive() -> list[dict[str, Any]]:
        try:
            return [event async for event in turn.events()]
        finally:
            await upstream_aclose_all()

    return asyncio.run(drive())


def chunk(text: str | None = None, finish: str | None = None) -> str:
    delta = {} if text is None else {"content": text}
    return json.dumps(
        {
            "id": "chatcmpl-t",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def stream_then_stall(fake: Any, pieces: list[str], stall: float = 30.0) -> None:
    """Every chat request streams `pieces`, then goes silent for `stall` seconds."""
    events: list[Any] = [chunk(p) for p in pieces] + [stall, chunk(None, "stop")]
    fake.route(CHAT, lambda request, scripted: Reply(events=[*events, "[DONE]"]))
