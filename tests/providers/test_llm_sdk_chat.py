"""The policy every SDK chat client shares (autoskill_site/providers/sdk_chat.py).

Each test runs once per vendor (OpenAI-compatible and Anthropic) with the real SDK
over real HTTP against the loopback fake: streaming, retries, timeouts and error
messages must behave the same whichever vendor answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from autoskill_site.providers.anthropic_chat import AnthropicLLM
from autoskill_site.providers.llm import LLMClient, LLMError
from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from tests.fakes.openai_server import (
    ANTHROPIC,
    CHAT,
    FakeOpenAIServer,
    Recorded,
    Reply,
    Scripted,
)
from tests.providers.sdk_clients import KEY, USER, built_clients


def _openai_broken_stream(text: str, message: str) -> list[str | tuple[str, str]]:
    choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1}
    return [
        json.dumps({**chunk, "model": "m", "choices": [choice]}),
        json.dumps({"error": {"message": message, "type": "server_error"}}),
    ]


def _anthropic_broken_stream(text: str, message: str) -> list[str | tuple[str, str]]:
    delta = {"type": "text_delta", "text": text}
    error = {"type": "overloaded_error", "message": message}
    return [
        (
            "content_block_delta",
            json.dumps({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        ("error", json.dumps({"type": "error", "error": error})),
    ]


@dataclass
class Vendor:
    """One vendor's client builder and the fake's route it talks to."""

    server: FakeOpenAIServer
    path: str
    build: Callable[..., Any]
    broken_stream: Callable[[str, str], list[str | tuple[str, str]]]

    def reply(self, *texts: str) -> None:
        self.server.enqueue(self.path, *[Scripted(text=text) for text in texts])

    def requests(self) -> list[Recorded]:
        return self.server.requests_to(self.path)


@pytest.fixture(params=["openai", "anthropic"])
def vendor(request, fake_openai: FakeOpenAIServer) -> Iterator[Vendor]:
    if request.param == "openai":
        clients = built_clients(
            OpenAICompatibleLLM,
            base_url=fake_openai.base_url,
            model="fake-chat",
            api_key=KEY,
        )
        path, broken = CHAT, _openai_broken_stream
    else:
        clients = built_clients(
            AnthropicLLM,
            base_url=f"http://127.0.0.1:{fake_openai.port}",
            model="claude-test",
            api_key=KEY,
        )
        path, broken = ANTHROPIC, _anthropic_broken_stream
    with clients as build:
        yield Vendor(fake_openai, path, build, broken)


class TestStream:
    def test_deltas_join_to_the_text(self, vendor) -> None:
        """Several deltas arrive and join to exactly the scripted text."""
        vendor.reply("Release notes: summary, breaking changes.")
        llm = vendor.build()
        pieces = list(llm.stream(USER))
        assert isinstance(llm, LLMClient)
        assert len(pieces) > 1
        assert "".join(pieces) == "Release notes: summary, breaking changes."
        assert vendor.requests()[0].json["stream"] is True

    def test_stream_retries_before_the_first_delta(self, vendor) -> None:
        vendor.server.fail(vendor.path, 503, "overloaded")
        vendor.reply("ok then")
        assert "".join(vendor.build(retries=1).stream(USER)) == "ok then"
        assert len(vendor.requests()) == 2

    def test_error_after_a_delta_is_raised_not_retried(self, vendor) -> None:
        """Text already yielded stays; the failure surfaces as a redacted LLMError."""
        # given
        events = vendor.broken_stream("Partial", f"upstream crashed, key {KEY}")
        vendor.server.route(vendor.path, lambda request, scripted: Reply(events=events))
        pieces: list[str] = []
        # when
        with pytest.raises(LLMError) as info:
            pieces.extend(vendor.build(retries=3).stream(USER))
        # then
        assert pieces == ["Partial"]
        assert len(vendor.requests()) == 1
        assert "upstream crashed" in str(info.value)
        assert KEY not in str(info.value) and "SECRET" not in str(info.value)


class TestRetries:
    def test_429_and_503_are_retried_then_succeed(self, vendor) -> None:
        vendor.server.fail(vendor.path, 429, "slow down", headers={"Retry-After": "0"})
        vendor.server.fail(vendor.path, 503, "overloaded")
        vendor.reply("finally")
        assert vendor.build(retries=2).complete(USER).text == "finally"
        assert len(vendor.requests()) == 3

    def test_gives_up_after_retries(self, vendor) -> None:
        """Persistent 503: retries+1 attempts, then a retryable error naming the URL."""
        vendor.server.fail(vendor.path, 503, "overloaded", times=3)
        llm = vendor.build(retries=2)
        with pytest.raises(LLMError) as info:
            llm.complete(USER)
        assert len(vendor.requests()) == 3
        error = info.value
        assert error.retryable and error.status == 503
        assert llm.base_url in str(error) and "overloaded" in str(error)

    def test_retry_after_reaches_the_error(self, vendor) -> None:
        vendor.server.fail(vendor.path, 429, "slow down", headers={"Retry-After": "7"})
        with pytest.raises(LLMError) as info:
            vendor.build(retries=0).complete(USER)
        assert info.value.retry_after == 7.0 and info.value.retryable

    @pytest.mark.parametrize("status", [400, 401, 403, 404])
    def test_client_errors_are_not_retried_and_hide_the_key(
        self, vendor, status
    ) -> None:
        vendor.server.fail(vendor.path, status, f"Incorrect API key provided: {KEY}")
        with pytest.raises(LLMError) as info:
            vendor.build(retries=3).complete(USER)
        assert len(vendor.requests()) == 1
        error = info.value
        assert error.status == status and not error.retryable
        assert f"HTTP {status}" in str(error) and "Check" in str(error)
        assert KEY not in str(error) and "SECRET" not in str(error)

    def test_timeouts_are_retried_then_reported(self, vendor) -> None:
        vendor.server.enqueue(vendor.path, Scripted(delay=2.0), Scripted(delay=2.0))
        with pytest.raises(LLMError, match="no answer within 0.2 s") as info:
            vendor.build(timeout=0.2, retries=1).complete(USER)
        assert info.value.retryable
        assert len(vendor.requests()) == 2

    def test_per_call_timeout(self, vendor) -> None:
        """complete(timeout=...) overrides the client's timeout for that call."""
        vendor.server.enqueue(vendor.path, Scripted(delay=2.0))
        vendor.reply("fast")
        assert vendor.build(retries=1).complete(USER, timeout=0.2).text == "fast"
        assert len(vendor.requests()) == 2

    def test_connection_refused_is_retryable(self, vendor) -> None:
        with FakeOpenAIServer() as server:
            url = f"http://127.0.0.1:{server.port}/v1"
        with pytest.raises(LLMError, match="could not be reached") as info:
            vendor.build(base_url=url, retries=1, timeout=2).complete(USER)
        assert info.value.retryable and KEY not in str(info.value)
