# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""POST /v1/chat/completions with `stream: true`, through the official OpenAI SDK.

The proxy relays the fake upstream's Server-Sent Events chunk by chunk.
"""

from __future__ import annotations

import json
import threading

import openai
import pytest
from django_tasks_db.models import DBTaskResult

from autoskill_site.providers import upstream as upstream_module
from extraction.models import ExtractionJob
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT, Reply
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    alice_key,
    asgi_server,
    http_client,
    openai_client,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = [{"role": "user", "content": "Please write the release notes for 2.0"}]


def _chunk(delta: dict, finish: str | None = None, **extra) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "fake-chat",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
    )


def _stream_route(fake, events):
    fake.route(CHAT, lambda request, scripted: Reply(events=list(events)))


def _raw_stream(http_client, asgi_server, alice_key: str):
    """A streamed chat request read as raw SSE bytes, below the SDK's parsing."""
    return http_client.stream(
        "POST",
        f"{asgi_server.url}/v1/chat/completions",
        json={"model": "fake-chat", "messages": QUESTION, "stream": True},
        headers={"Authorization": f"Bearer {alice_key}"},
    )


def test_text_streams_with_autoskill_on_first_and_final_chunk(
    openai_client, upstream, user
):
    """Deltas join to the upstream's text; the first and last chunks carry autoskill."""
    # given
    skill = make_skill(owner=user, title="Release notes writer")
    upstream.reply_chat("Summary first, then breaking changes.")
    # when
    raw = openai_client.chat.completions.with_raw_response.create(
        model="fake-chat", messages=QUESTION, stream=True
    )
    chunks = list(raw.parse())
    # then
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-accel-buffering"] == "no"
    assert float(raw.headers["x-autoskill-overhead-ms"]) >= 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Summary first, then breaking changes."
    first, last = (
        chunks[0].model_extra["autoskill"],
        chunks[-1].model_extra["autoskill"],
    )
    assert [h["id"] for h in first["retrieval"]["hits"]] == [str(skill.pk)]
    assert first["extraction"]["status"] == "disabled"
    assert last["retrieval"]["injected_ids"] == [str(skill.pk)]
    assert last["usage"] == {"status": "scheduled"}
    assert chunks[-1].choices == []
    assert [c for c in chunks[1:-1] if "autoskill" in (c.model_extra or {})] == []
    sent = upstream.requests_to(CHAT)[-1].json
    assert sent["stream"] is True and sent["messages"][0]["role"] == "system"
    # the usage audit is queued after [DONE], on the audit queue
    audits = _eventually(lambda: list(DBTaskResult.objects.filter(queue_name="audit")))
    assert [a.args_kwargs["kwargs"]["injected_ids"] for a in audits] == [
        [str(skill.pk)]
    ]
    assert (
        audits[0].args_kwargs["kwargs"]["reply"]
        == "Summary first, then breaking changes."
    )


def _eventually(read, attempts: int = 400):
    """`read()` once it returns something truthy (background work in the server)."""
    pause = threading.Event()
    for _ in range(attempts):
        if value := read():
            return value
        pause.wait(0.025)
    return read()


def test_parallel_tool_call_deltas_keep_ids_and_names(openai_client, upstream):
    """Two streamed tool calls arrive intact and in order."""

    # given
    def call(index, **fields):
        return {"tool_calls": [{"index": index, **fields}]}

    _stream_route(
        upstream,
        [
            _chunk({"role": "assistant", "content": None}),
            _chunk(call(0, id="call_a", type="function", function={"name": "weather", "arguments": ""})),
            _chunk(call(1, id="call_b", type="function", function={"name": "time", "arguments": ""})),
            _chunk(call(0, function={"arguments": '{"city": '})),
            _chunk(call(1, function={"arguments": '{"zone": "UTC"}'})),
            _chunk(call(0, function={"arguments": '"Oslo"}'})),
            _chunk({}, "tool_calls"),
            "[DONE]",
        ],
    )  # fmt: skip
    # when
    stream = openai_client.chat.completions.create(
        model="fake-chat",
        messages=QUESTION,
        stream=True,
        tools=[{"type": "function", "function": {"name": "weather"}}],
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                slot = calls.setdefault(delta.index, {"args": ""})
                if delta.id:
                    slot["id"], slot["name"] = delta.id, delta.function.name
                slot["args"] += delta.function.arguments or ""
    # then
    assert finish == "tool_calls"
    assert calls == {
        0: {"id": "call_a", "name": "weather", "args": '{"city": "Oslo"}'},
        1: {"id": "call_b", "name": "time", "args": '{"zone": "UTC"}'},
    }
    assert (
        upstream.requests_to(CHAT)[-1].json["tools"][0]["function"]["name"] == "weather"
    )


def test_include_usage_is_forwarded_and_the_usage_chunk_relayed(
    openai_client, upstream
):
    _stream_route(
        upstream,
        [
            _chunk({"role": "assistant", "content": "Hi"}),
            _chunk({}, "stop"),
            json.dumps(
                {
                    "id": "chatcmpl-s",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "fake-chat",
                    "choices": [],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12},
                }
            ),
            "[DONE]",
        ],
    )  # fmt: skip
    chunks = list(
        openai_client.chat.completions.create(
            model="fake-chat",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert upstream.requests_to(CHAT)[-1].json["stream_options"] == {
        "include_usage": True
    }
    usage = [c.usage for c in chunks if c.usage is not None]
    assert [(u.prompt_tokens, u.total_tokens) for u in usage] == [(11, 12)]


def test_upstream_500_before_streaming_is_an_http_error(openai_client, upstream):
    upstream.fail(CHAT, 500, "overloaded")
    with pytest.raises(openai.APIStatusError) as caught:
        list(
            openai_client.chat.completions.create(
                model="fake-chat", messages=QUESTION, stream=True
            )
        )
    assert caught.value.status_code == 502
    assert "overloaded" in caught.value.body["message"]


def test_malformed_chunk_ends_the_stream_with_an_error(openai_client, upstream):
    """Text already relayed stays; the broken chunk becomes an SDK APIError."""
    _stream_route(
        upstream,
        [_chunk({"role": "assistant", "content": "Half"}), "{not json", "[DONE]"],
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in openai_client.chat.completions.create(
            model="fake-chat", messages=QUESTION, stream=True
        ):
            received.extend(c.delta.content for c in chunk.choices)
    assert received == ["Half"]
    assert caught.value.body["code"] == "upstream_malformed_chunk"


def test_keepalive_comments_while_the_upstream_is_silent(
    asgi_server, http_client, alice_key, upstream, settings
):
    # given: a pause far longer than the keep-alive interval
    settings.AUTOSKILL_PROXY_KEEPALIVE_SECONDS = 0.05
    _stream_route(
        upstream,
        [
            _chunk({"role": "assistant", "content": "A"}),
            0.5,
            _chunk({}, "stop"),
            "[DONE]",
        ],
    )
    # when
    with _raw_stream(http_client, asgi_server, alice_key) as response:
        body = b"".join(response.iter_bytes())
    # then
    assert b"\n\n: keep-alive\n\n" in body
    assert body.endswith(b"data: [DONE]\n\n")
    assert body.index(b'"content": "A"') < body.index(b": keep-alive")


def _open_upstream_streams() -> int:
    return sum(
        getattr(client, "open_streams", 0)
        for clients in list(upstream_module._CACHE.values())
        for client in clients.values()
    )


def test_client_disconnect_cancels_the_upstream_request(
    asgi_server, http_client, alice_key, upstream
):
    # given: an upstream that would stay silent for a long time after one chunk
    _stream_route(
        upstream, [_chunk({"role": "assistant", "content": "A"}), 30, "[DONE]"]
    )
    with _raw_stream(http_client, asgi_server, alice_key) as response:
        first = next(response.iter_lines())
        # The first chunk (with the autoskill object) may precede the upstream call;
        # wait until the upstream has the request, so the stream really was opened.
        assert first.startswith("data: ")
        assert _eventually(lambda: upstream.requests_to(CHAT))
    # when: the client has gone away; then the proxy drops the upstream stream
    assert _eventually(lambda: _open_upstream_streams() == 0)


def test_feedback_turn_names_its_job_on_the_first_and_final_chunk(
    openai_client, upstream, user
):
    """The original's clients read the job id from the first chunk; the row is written
    after the last upstream chunk under that same id."""
    upstream.reply_chat("Understood.")
    chunks = list(
        openai_client.chat.completions.create(
            model="fake-chat",
            stream=True,
            messages=[
                {"role": "user", "content": "Write release notes"},
                {"role": "assistant", "content": "Here they are."},
                {"role": "user", "content": "Always put migration steps last."},
            ],
        )
    )
    job = ExtractionJob.objects.get(user=user)
    first = chunks[0].model_extra["autoskill"]["extraction"]
    final = chunks[-1].model_extra["autoskill"]["extraction"]
    assert first == {"job_id": str(job.pk), "status": "scheduled"}
    assert final["job_id"] == str(job.pk) and final["status"] == "scheduled"
    # The evidence is the user's reaction to the previous answer, not the new reply.
    assert job.window[-1] == {
        "role": "user",
        "content": "Always put migration steps last.",
    }


def test_offline_provider_streams_with_zero_usage(openai_client, settings):
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    settings.AUTOSKILL_REWRITE_MODE = "never"
    chunks = list(
        openai_client.chat.completions.create(
            model="anything",
            messages=[{"role": "user", "content": "hello"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[offline provider]")
    assert [c.usage.total_tokens for c in chunks if c.usage] == [0]
    assert (
        "autoskill" in chunks[0].model_extra and "autoskill" in chunks[-1].model_extra
    )
