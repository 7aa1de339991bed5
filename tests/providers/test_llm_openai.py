"""The OpenAI-compatible chat client (autoskill_site/providers/openai_chat.py).

Every test talks real HTTP to the loopback fake server through the real SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import jwt
import pytest

from autoskill_site.providers.llm import (
    LLMClient,
    LLMError,
    LLMReply,
    parse_retry_after,
    strip_code_fences,
    with_retries,
)
from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from tests.fakes.openai_server import CHAT, FakeOpenAIServer, Reply, Scripted
from tests.providers.sdk_clients import KEY, USER, built_clients


@pytest.fixture
def llm_for(fake_openai: FakeOpenAIServer) -> Iterator:
    """Build clients against the fake with tiny backoff; closed after the test."""
    with built_clients(
        OpenAICompatibleLLM,
        base_url=fake_openai.base_url,
        model="fake-chat",
        api_key=KEY,
    ) as build:
        yield build


def chat_body(message: dict) -> dict:
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-chat",
        "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
    }


class TestComplete:
    def test_reply_request_and_auth(self, fake_openai, llm_for) -> None:
        """Text, usage and finish reason come back; model, messages and key go out."""
        # given
        fake_openai.reply_chat("Three bullet points.")
        llm = llm_for()
        # when
        reply = llm.complete(USER, temperature=0.2)
        # then
        assert isinstance(llm, LLMClient)
        assert reply == LLMReply(
            text="Three bullet points.",
            model="fake-chat",
            provider="generic",
            finish_reason="stop",
            usage={"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
        )
        request = fake_openai.requests_to(CHAT)[0]
        assert request.json["model"] == "fake-chat"
        assert request.json["messages"] == USER
        assert request.json["temperature"] == 0.2
        assert "response_format" not in request.json
        assert request.headers["authorization"] == f"Bearer {KEY}"

    def test_model_and_max_tokens_per_call(self, fake_openai, llm_for) -> None:
        """complete(model=...) picks the model for one call; max_tokens is sent."""
        llm = llm_for(max_tokens=100)
        llm.complete(USER, model="cheap-model")
        llm.complete(USER, max_tokens=7)
        first, second = fake_openai.requests_to(CHAT)
        assert (first.json["model"], first.json["max_tokens"]) == ("cheap-model", 100)
        assert (second.json["model"], second.json["max_tokens"]) == ("fake-chat", 7)

    def test_extra_body_is_merged(self, fake_openai, llm_for) -> None:
        llm_for(extra_body={"top_k": 5, "enable_thinking": False}).complete(USER)
        body = fake_openai.requests_to(CHAT)[0].json
        assert body["top_k"] == 5 and body["enable_thinking"] is False

    def test_key_is_optional(self, fake_openai, llm_for, monkeypatch) -> None:
        """No key -> no Authorization header, even if the SDK's env would add one."""
        # given
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer leaked")
        monkeypatch.setenv("OPENAI_ORG_ID", "org-from-env")
        llm = llm_for(api_key="")
        # when
        llm.complete(USER)
        # then
        headers = fake_openai.requests_to(CHAT)[0].headers
        assert "authorization" not in headers
        assert "openai-organization" not in headers
        assert llm.auth == "none"

    def test_explicit_key_beats_env_custom_headers(
        self, fake_openai, llm_for, monkeypatch
    ) -> None:
        monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer leaked")
        llm_for().complete(USER)
        assert (
            fake_openai.requests_to(CHAT)[0].headers["authorization"] == f"Bearer {KEY}"
        )


class TestReasoningContent:
    def test_json_reasoning_is_used_when_content_is_empty(
        self, fake_openai, llm_for
    ) -> None:
        message = {
            "role": "assistant",
            "content": "",
            "reasoning_content": '{"skills": []}',
        }
        fake_openai.enqueue(CHAT, Scripted(body=chat_body(message)))
        assert llm_for().complete(USER).text == '{"skills": []}'

    def test_prose_reasoning_never_leaks(self, fake_openai, llm_for) -> None:
        message = {
            "role": "assistant",
            "content": None,
            "reasoning_content": "The user wants... let me think step by step.",
        }
        fake_openai.enqueue(CHAT, Scripted(body=chat_body(message)))
        assert llm_for().complete(USER).text == ""

    def test_content_wins_over_reasoning(self, fake_openai, llm_for) -> None:
        message = {"role": "assistant", "content": "answer", "reasoning_content": "{}"}
        fake_openai.enqueue(CHAT, Scripted(body=chat_body(message)))
        assert llm_for().complete(USER).text == "answer"

    def test_reply_without_choices_is_an_error(self, fake_openai, llm_for) -> None:
        fake_openai.enqueue(CHAT, Scripted(body={**chat_body({}), "choices": []}))
        with pytest.raises(LLMError, match="without choices"):
            llm_for().complete(USER)


class TestStream:
    """Deltas, retries and mid-stream errors are shared: see test_llm_sdk_chat.py."""

    def test_reasoning_only_stream_yields_json_not_prose(
        self, fake_openai, llm_for
    ) -> None:
        """A stream with only reasoning deltas yields them only if they form JSON."""

        def chunk(reasoning: str) -> str:
            delta = {"reasoning_content": reasoning}
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            body = {"id": "c", "object": "chat.completion.chunk", "created": 1}
            return json.dumps({**body, "model": "m", "choices": [choice]})

        def reasoning_only(request, scripted) -> Reply:
            text = scripted.text if scripted else '{"a": 1}'
            halves = [text[: len(text) // 2], text[len(text) // 2 :]]
            return Reply(events=[chunk(half) for half in halves] + ["[DONE]"])

        fake_openai.route(CHAT, reasoning_only)
        llm = llm_for()
        assert "".join(llm.stream(USER)) == '{"a": 1}'
        fake_openai.reply_chat("thinking about it")
        assert list(llm.stream(USER)) == []


class TestJsonMode:
    def test_response_format_is_sent(self, fake_openai, llm_for) -> None:
        """json_mode adds response_format; a JSON note is added only if none mentions JSON."""
        llm = llm_for()
        llm.complete(USER, json_mode=True)
        llm.complete([{"role": "user", "content": "Reply in JSON."}], json_mode=True)
        first, second = fake_openai.requests_to(CHAT)
        assert first.json["response_format"] == {"type": "json_object"}
        assert first.json["messages"][0]["role"] == "system"
        assert "JSON" in first.json["messages"][0]["content"]
        assert second.json["messages"] == [
            {"role": "user", "content": "Reply in JSON."}
        ]

    def test_rejected_response_format_falls_back_once_and_is_remembered(
        self, fake_openai, llm_for
    ) -> None:
        # given
        fake_openai.fail(CHAT, 400, "response_format json_object is not supported")
        fake_openai.reply_chat('{"ok": true}', '{"again": true}')
        llm = llm_for(retries=3)
        # when
        first = llm.complete(USER, json_mode=True)
        second = llm.complete(USER, json_mode=True)
        # then
        assert (first.text, second.text) == ('{"ok": true}', '{"again": true}')
        sent = [r.json for r in fake_openai.requests_to(CHAT)]
        assert len(sent) == 3
        assert "response_format" in sent[0]
        assert "response_format" not in sent[1] and "response_format" not in sent[2]
        assert llm.json_mode_supported is False

    def test_fallback_that_fails_again_is_not_remembered(
        self, fake_openai, llm_for
    ) -> None:
        """A 400 for another reason: one plain retry, then the error; JSON mode kept."""
        fake_openai.fail(CHAT, 400, "context length exceeded", times=2)
        llm = llm_for(retries=3)
        with pytest.raises(LLMError, match="HTTP 400"):
            llm.complete(USER, json_mode=True)
        assert len(fake_openai.requests_to(CHAT)) == 2
        assert llm.json_mode_supported is True


class TestInternLMThinkingMode:
    def test_thinking_mode_sent_then_dropped_on_400(self, fake_openai, llm_for) -> None:
        """A 400 naming thinking_mode: one retry without it, remembered afterwards."""
        # given
        fake_openai.fail(CHAT, 400, "Unrecognized parameter: thinking_mode")
        llm = llm_for(provider="internlm", thinking_mode=True)
        # when
        llm.complete(USER)
        llm.complete(USER)
        # then
        sent = [r.json for r in fake_openai.requests_to(CHAT)]
        assert sent[0]["thinking_mode"] is True
        assert "thinking_mode" not in sent[1] and "thinking_mode" not in sent[2]
        assert llm.thinking_mode is None

    def test_other_400s_keep_thinking_mode(self, fake_openai, llm_for) -> None:
        fake_openai.fail(CHAT, 400, "bad temperature")
        llm = llm_for(provider="internlm", thinking_mode=True)
        with pytest.raises(LLMError):
            llm.complete(USER)
        assert llm.thinking_mode is True
        assert len(fake_openai.requests_to(CHAT)) == 1


class TestGLMAuth:
    SECRET = "glm-secret-0123456789abcdef0123456789"

    def test_id_secret_key_becomes_a_jwt(self, fake_openai, llm_for) -> None:
        """auto mode signs HS256 {api_key, exp, timestamp}; the token is reused."""
        # given
        llm = llm_for(provider="glm", api_key=f"key-id.{self.SECRET}", auth_mode="auto")
        # when
        llm.complete(USER)
        llm.complete(USER)
        # then
        first, second = fake_openai.requests_to(CHAT)
        token = first.headers["authorization"].removeprefix("Bearer ")
        claims = jwt.decode(
            token, self.SECRET, algorithms=["HS256"], options={"verify_exp": False}
        )
        assert claims["api_key"] == "key-id"
        assert claims["exp"] - claims["timestamp"] == 3_600_000
        assert jwt.get_unverified_header(token)["sign_type"] == "SIGN"
        assert second.headers["authorization"] == first.headers["authorization"]
        assert llm.auth == "jwt"

    def test_api_key_mode_sends_the_raw_key(self, fake_openai, llm_for) -> None:
        key = f"key-id.{self.SECRET}"
        llm_for(provider="glm", api_key=key, auth_mode="api_key").complete(USER)
        assert (
            fake_openai.requests_to(CHAT)[0].headers["authorization"] == f"Bearer {key}"
        )

    def test_errors_hide_secret_and_token(self, fake_openai, llm_for) -> None:
        llm = llm_for(provider="glm", api_key=f"key-id.{self.SECRET}", auth_mode="jwt")
        llm.complete(USER)
        token = fake_openai.requests_to(CHAT)[0].headers["authorization"][7:]
        fake_openai.fail(CHAT, 401, f"token {token} rejected for secret {self.SECRET}")
        with pytest.raises(LLMError) as info:
            llm.complete(USER)
        assert self.SECRET not in str(info.value) and token not in str(info.value)


class TestHelpers:
    def test_with_retries_honours_retry_after_capped(self) -> None:
        """A Retry-After beyond the cap waits the cap; retries stop at the limit."""
        # given
        waits: list[float] = []
        calls = []

        def flaky() -> str:
            calls.append(1)
            if len(calls) < 3:
                raise LLMError("busy", status=429, retryable=True, retry_after=30)
            return "done"

        # when
        result = with_retries(flaky, retries=3, base=0.001, cap=2.0, sleep=waits.append)
        # then
        assert result == "done" and waits == [2.0, 2.0]

    def test_with_retries_does_not_retry_permanent_errors(self) -> None:
        waits: list[float] = []

        def broken() -> None:
            raise LLMError("bad request", status=400)

        with pytest.raises(LLMError):
            with_retries(broken, retries=3, sleep=waits.append)
        assert waits == []

    def test_parse_retry_after(self) -> None:
        assert parse_retry_after({"retry-after": "3"}) == 3.0
        assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
        assert (
            parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
        )
        assert parse_retry_after({}) is None

    def test_strip_code_fences(self) -> None:
        assert strip_code_fences('```json\n{"a": 1}\n```') == '{"a": 1}'
        assert strip_code_fences('  {"a": 1} ') == '{"a": 1}'
        assert strip_code_fences("see ```x``` inline") == "see ```x``` inline"
