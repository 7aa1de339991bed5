# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""Upstream faults the other proxy tests leave out: resets, silences and in-band errors.

A crashed upstream resets the connection (the fake's `RESET` event sends a TCP RST),
a hung one goes silent past AUTOSKILL_LLM_TIMEOUT, an overloaded one sends an error
chunk mid-stream. Whatever happens, the client gets the OpenAI envelope (before the
stream starts) or text already relayed followed by one `error` chunk and `[DONE]`;
never a 500, never assistant text made of an error. The browser chat saves the
partial reply with status `error`. An unreachable database is a 503 envelope.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection
from django.test import Client

from autoskill_site.asgi import application
from autoskill_site.providers.upstream import upstream_aclose_all
from proxy.auth import api_key_create
from proxy.models import ChatMessage
from tests.fakes.openai_server import CHAT, RESET, Reply, Scripted
from tests.proxy.chat_fixtures import chunk
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    alice_key,
    asgi_server,
    http_client,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = [{"role": "user", "content": "Please write the release notes for 2.0"}]
# Long enough for the proxy to relay the first chunk before the reset arrives (an
# RST may discard bytes the receiver has not read yet).
SETTLE = 0.3
# An upper bound so a broken server fails the test instead of hanging it.
WAIT = 30


def _post(http_client, asgi_server, key: str, *, stream: bool):
    return http_client.stream(
        "POST",
        f"{asgi_server.url}/v1/chat/completions",
        json={"model": "fake-chat", "messages": QUESTION, "stream": stream},
        headers={"Authorization": f"Bearer {key}"},
    )


def _sse(http_client, asgi_server, key: str) -> tuple[int, list[Any]]:
    """(status, payloads): every `data:` payload, JSON-decoded except `[DONE]`."""
    with _post(http_client, asgi_server, key, stream=True) as response:
        lines = list(response.iter_lines())
        status = response.status_code
    payloads = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    return status, [p if p == "[DONE]" else json.loads(p) for p in payloads]


def _route(fake, events: list) -> None:
    fake.route(CHAT, lambda request, scripted: Reply(events=list(events)))


def _texts(payloads: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for payload in payloads
        if isinstance(payload, dict)
        for choice in payload.get("choices") or []
    )


def _assert_recovers(http_client, asgi_server, key: str, fake) -> None:
    """The next request after a fault is answered normally (no stuck state)."""
    fake.route(CHAT, fake._chat)
    fake.reply_chat("Back to normal.")
    with _post(http_client, asgi_server, key, stream=False) as response:
        response.read()
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Back to normal."


def test_reset_mid_stream_keeps_the_text_and_ends_with_an_error_chunk(
    asgi_server, http_client, alice_key, upstream
):
    """The chunk relayed before the reset stays; then one error chunk and [DONE]."""
    # given: the upstream sends one chunk, then its connection is reset
    _route(upstream, [chunk("Half an answer"), SETTLE, RESET])
    # when
    status, payloads = _sse(http_client, asgi_server, alice_key)
    # then
    assert status == 200
    *chunks, error, done = payloads
    assert done == "[DONE]"
    assert _texts(chunks) == "Half an answer"
    assert "autoskill" in chunks[0]
    assert error["error"]["type"] == "server_error"
    assert error["error"]["code"] == "upstream_unreachable"
    # no final "choices: []" chunk: the reply did not finish
    assert all(c["choices"] for c in chunks)
    _assert_recovers(http_client, asgi_server, alice_key, upstream)


def test_a_stream_closed_without_finish_or_done_ends_with_a_truncation_error(
    asgi_server, http_client, alice_key, upstream
):
    """A clean close before any finish_reason is a cut-off reply, not a whole one."""
    # given: one chunk, then the upstream ends its response
    _route(upstream, [chunk("Half an answer")])
    # when
    status, payloads = _sse(http_client, asgi_server, alice_key)
    # then
    *chunks, error, done = payloads
    assert (status, done) == (200, "[DONE]")
    assert _texts(chunks) == "Half an answer"
    assert error["error"]["code"] == "upstream_truncated"
    assert all(c["choices"] for c in chunks)  # no final chunk: nothing is learned


def test_a_finish_reason_without_done_is_a_whole_reply(
    asgi_server, http_client, alice_key, upstream
):
    """Servers that end with finish_reason but omit [DONE] still give a complete reply."""
    _route(upstream, [chunk("Whole answer."), chunk(None, "stop")])
    status, payloads = _sse(http_client, asgi_server, alice_key)
    assert (status, payloads[-1]) == (200, "[DONE]")
    final = payloads[-2]
    assert final["choices"] == [] and "autoskill" in final
    assert _texts(payloads) == "Whole answer."


def test_reset_before_a_non_streamed_answer_is_a_502_envelope(
    asgi_server, http_client, alice_key, upstream
):
    # given: the upstream resets the connection instead of sending its body
    _route(upstream, [RESET])
    # when
    with _post(http_client, asgi_server, alice_key, stream=False) as response:
        response.read()
    # then
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "upstream_unreachable")
    assert error["message"]
    _assert_recovers(http_client, asgi_server, alice_key, upstream)


def test_silence_mid_stream_past_the_timeout_ends_with_a_504_chunk(
    asgi_server, http_client, alice_key, upstream, settings
):
    """A read timeout after streaming started is reported in-band, not as a hang."""
    # given
    settings.AUTOSKILL_LLM_TIMEOUT = 0.5
    settings.AUTOSKILL_PROXY_KEEPALIVE_SECONDS = 0
    _route(upstream, [chunk("Half"), 5, chunk(" never sent", "stop"), "[DONE]"])
    # when
    status, payloads = _sse(http_client, asgi_server, alice_key)
    # then
    assert status == 200
    *chunks, error, done = payloads
    assert (_texts(chunks), done) == ("Half", "[DONE]")
    assert error["error"]["code"] == "upstream_timeout"
    assert "AUTOSKILL_LLM_TIMEOUT" in error["error"]["message"]


def test_no_first_byte_within_the_timeout_is_a_504_envelope_when_streaming(
    asgi_server, http_client, alice_key, upstream, settings
):
    # given
    settings.AUTOSKILL_LLM_TIMEOUT = 0.5
    upstream.enqueue(CHAT, Scripted(text="too late", delay=5))
    # when
    with _post(http_client, asgi_server, alice_key, stream=True) as response:
        response.read()
    # then
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_an_in_band_error_chunk_mid_stream_is_relayed_and_ends_the_stream(
    asgi_server, http_client, alice_key, upstream
):
    """An upstream that fails after it started streaming says so in an error chunk."""
    # given
    failure = {"message": "overloaded", "type": "server_error", "code": None}
    _route(
        upstream,
        [chunk("Half"), json.dumps({"error": failure}), chunk(" more"), "[DONE]"],
    )
    # when
    status, payloads = _sse(http_client, asgi_server, alice_key)
    # then
    assert status == 200
    *chunks, error, done = payloads
    assert (_texts(chunks), done) == ("Half", "[DONE]")
    assert error == {"error": failure}


# -- the browser chat socket -------------------------------------------------


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _chat_over_socket(user: Any, text: str) -> list[dict[str, Any]]:
    """Every socket message of one chat turn, up to its `done`."""
    cookie = await database_sync_to_async(_session_cookie)(user)
    socket = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())],
    )  # fmt: skip
    connected, _ = await socket.connect(timeout=WAIT)
    assert connected
    received = []
    try:
        await socket.send_json_to({"type": "chat", "text": text})
        while not received or received[-1]["type"] != "done":
            received.append(await socket.receive_json_from(timeout=WAIT))
    finally:
        await socket.disconnect(timeout=WAIT)
        await upstream_aclose_all()
    return received


@pytest.mark.parametrize(
    ("events", "timeout", "message"),
    [
        ([chunk("Half an answer"), SETTLE, RESET], 30, "could not be reached"),
        ([chunk("Half an answer"), 5, "[DONE]"], 0.5, "AUTOSKILL_LLM_TIMEOUT"),
        ([chunk("Half an answer")], 30, "closed the stream before"),
    ],
    ids=["reset", "timeout", "truncated"],
)
async def test_the_chat_socket_saves_the_partial_reply_as_error(
    upstream, user, settings, events, timeout, message
):
    # given
    settings.AUTOSKILL_LLM_TIMEOUT = timeout
    _route(upstream, events)
    # when
    received = await _chat_over_socket(user, "Please write the release notes")
    # then
    kinds = [m["type"] for m in received]
    assert kinds[-3:] == ["token", "error", "done"]
    assert message in received[-2]["message"]
    tokens = "".join(m["text"] for m in received if m["type"] == "token")
    assert tokens == "Half an answer"
    done = received[-1]
    assert done["status"] == "error"
    saved = await database_sync_to_async(ChatMessage.objects.get)(pk=done["message_id"])
    assert (saved.role, saved.content, saved.status) == (
        "assistant",
        "Half an answer",
        "error",
    )
    assert message in saved.error


# -- the database --------------------------------------------------------------


def test_an_unreachable_database_is_a_503_envelope_with_retry_after(user, client):
    """Down, restarting or out of pooled connections: transient, and said so."""
    # given: every query fails the way a stopped server makes psycopg fail
    key = api_key_create(owner=user).secret

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection failed: Connection refused")

    # when
    with connection.execute_wrapper(refuse):
        response = client.get(
            "/v1/autoskill/skills", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
    # then
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "database_unavailable")
    assert "retry" in error["message"]
    # and the next request, with the database back, is answered
    again = client.get("/v1/autoskill/skills", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert again.status_code == 200
