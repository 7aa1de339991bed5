"""The Anthropic Messages client (autoskill_site/providers/anthropic_chat.py).

Real SDK, real HTTP, against the loopback fake's /v1/messages route.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoskill_site.providers.anthropic_chat import (
    DEFAULT_MAX_TOKENS,
    JSON_INSTRUCTION,
    AnthropicLLM,
    to_anthropic,
)
from autoskill_site.providers.llm import LLMClient
from tests.fakes.openai_server import ANTHROPIC, FakeOpenAIServer
from tests.providers.sdk_clients import KEY, USER, built_clients


def root(server: FakeOpenAIServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def claude_for(fake_openai: FakeOpenAIServer) -> Iterator:
    """Build clients against the fake with tiny backoff; closed after the test."""
    with built_clients(
        AnthropicLLM, base_url=root(fake_openai), model="claude-test", api_key=KEY
    ) as build:
        yield build


def sent_key(headers: dict[str, str]) -> str:
    """The credential the SDK sent, in whichever header it uses."""
    return headers.get("x-api-key") or headers.get("authorization", "")


class TestMessageTranslation:
    def test_system_lifted_and_same_roles_merged(self) -> None:
        """System/developer text goes to `system`; neighbours of one role merge."""
        # given
        messages = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "First."},
            {"role": "user", "content": [{"type": "text", "text": "Second."}]},
            {"role": "developer", "content": "No emojis."},
            {"role": "assistant", "content": "Ok."},
            {"role": "tool", "content": "tool output"},
            {"role": "user", "content": "   "},
        ]
        # when
        system, turns = to_anthropic(messages)
        # then
        assert system == "Be brief.\n\nNo emojis."
        assert turns == [
            {"role": "user", "content": "First.\n\nSecond."},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": "tool output"},
        ]

    def test_json_mode_appends_the_instruction(self) -> None:
        system, _ = to_anthropic(USER, json_mode=True)
        assert system == JSON_INSTRUCTION


class TestComplete:
    def test_reply_and_request_shape(self, fake_openai, claude_for) -> None:
        # given
        fake_openai.reply_anthropic("Summary first.")
        llm = claude_for()
        messages = [{"role": "system", "content": "Be brief."}, *USER]
        # when
        reply = llm.complete(messages)
        # then
        assert isinstance(llm, LLMClient)
        assert (reply.text, reply.model, reply.provider) == (
            "Summary first.",
            "claude-test",
            "anthropic",
        )
        assert reply.finish_reason == "end_turn"
        assert reply.usage == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
        request = fake_openai.requests_to(ANTHROPIC)[0]
        assert request.json["system"] == "Be brief."
        assert request.json["messages"] == USER
        assert request.json["max_tokens"] == DEFAULT_MAX_TOKENS
        assert KEY in sent_key(request.headers)
        assert "anthropic-version" in request.headers

    def test_model_max_tokens_and_extra_body(self, fake_openai, claude_for) -> None:
        llm = claude_for(max_tokens=512, extra_body={"metadata": {"user_id": "u1"}})
        llm.complete(USER, model="claude-cheap")
        body = fake_openai.requests_to(ANTHROPIC)[0].json
        assert (body["model"], body["max_tokens"]) == ("claude-cheap", 512)
        assert body["metadata"] == {"user_id": "u1"}

    def test_base_url_with_v1_suffix_is_accepted(self, fake_openai, claude_for) -> None:
        """ANTHROPIC_BASE_URL pasted with /v1 still reaches /v1/messages."""
        claude_for(base_url=fake_openai.base_url).complete(USER)
        assert len(fake_openai.requests_to(ANTHROPIC)) == 1

    def test_json_mode_instructs_and_strips_fences(
        self, fake_openai, claude_for
    ) -> None:
        fake_openai.reply_anthropic('```json\n{"skills": []}\n```')
        reply = claude_for().complete(USER, json_mode=True)
        assert reply.text == '{"skills": []}'
        assert JSON_INSTRUCTION in fake_openai.requests_to(ANTHROPIC)[0].json["system"]

    def test_only_system_messages_is_refused(self, claude_for) -> None:
        with pytest.raises(ValueError, match="at least one"):
            claude_for().complete([{"role": "system", "content": "x"}])


class TestErrors:
    """Retries, timeouts and redaction are shared: see test_llm_sdk_chat.py."""

    def test_key_is_required(self, fake_openai) -> None:
        with pytest.raises(ValueError, match="api_key"):
            AnthropicLLM(base_url=root(fake_openai), model="m", api_key="")
