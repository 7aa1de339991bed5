"""One JSON line per HTTP request on `autoskill.requests`, through the real handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from extraction.redaction import RedactingFilter
from proxy.auth import api_key_create


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (with its RedactingFilter) prints."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


def _lines(console: io.StringIO) -> list[dict]:
    lines = []
    for raw in console.getvalue().splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line.get("event") == "http_request":
                lines.append(line)
    return lines


@pytest.mark.django_db
def test_each_request_is_one_json_line_with_its_fields(client, console):
    """Method, path without the query, route, status, duration and the request id."""
    # when
    response = client.get("/health?token=abc", HTTP_X_REQUEST_ID="trace-42")
    # then
    (line,) = _lines(console)
    assert response["X-Request-ID"] == "trace-42"
    assert line["request_id"] == "trace-42"
    assert line["method"] == "GET"
    assert line["path"] == "/health"
    assert line["route"] == "health"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    # Unknown fields are left out rather than logged as null.
    assert {"overhead_ms", "user_id", "key_prefix"}.isdisjoint(line)


@pytest.mark.django_db
def test_an_unusable_request_id_is_replaced(client, console):
    """A client cannot inject text into the log through X-Request-ID."""
    response = client.get("/health", HTTP_X_REQUEST_ID='x" ,"status": 1')
    (line,) = _lines(console)
    assert line["request_id"] == response["X-Request-ID"]
    assert len(line["request_id"]) == 32 and '"' not in line["request_id"]


@pytest.mark.django_db
def test_unmatched_paths_share_one_route(client, console):
    client.get("/no/such/page/12345")
    (line,) = _lines(console)
    assert line["route"] == "unmatched" and line["status"] == 404


@pytest.mark.django_db(transaction=True)
async def test_proxied_chat_logs_user_key_prefix_and_overhead(
    async_client, console, user
):
    """The proxy's API-key check names the caller; the view's overhead is logged."""
    # given
    issued = await _key(user)
    # when
    response = await async_client.post(
        "/v1/chat/completions",
        {"model": "any", "messages": [{"role": "user", "content": "hello"}]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {issued.secret}"},
    )
    # then
    assert response.status_code == 200
    (line,) = _lines(console)
    assert line["route"] == "v1/chat/completions"
    assert line["user_id"] == user.pk
    assert line["key_prefix"] == issued.api_key.prefix
    assert line["overhead_ms"] == float(response["x-autoskill-overhead-ms"])
    assert line["stream"] is False


@pytest.mark.django_db(transaction=True)
async def test_a_stream_is_logged_when_its_last_byte_is_out(
    async_client, console, user
):
    """A streamed chat is timed to its end, not to its headers."""
    # given
    issued = await _key(user)
    response = await async_client.post(
        "/v1/chat/completions",
        {
            "model": "any",
            "stream": True,
            "messages": [{"role": "user", "content": "hello"}],
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {issued.secret}"},
    )
    assert response.streaming
    assert _lines(console) == []  # headers are out, the body is not
    # when
    body = b"".join([chunk async for chunk in response.streaming_content])
    # then
    assert b"data: [DONE]" in body
    (line,) = _lines(console)
    assert line["stream"] is True and line["status"] == 200
    assert line["user_id"] == user.pk


@pytest.mark.django_db(transaction=True)
def test_secrets_never_reach_the_log(client, console, user):
    """Authorization headers, keys in bodies and passwords stay out; a key pasted
    into a path is masked by the console handler's RedactingFilter."""
    # given
    issued = api_key_create(owner=user)
    body_key = "sk-live-" + "Q7w" * 12
    path_key = "sk-proj-" + "Zx9" * 12
    # when
    client.post(
        "/v1/autoskill/skills/search",
        {"query": "release notes", "api_key": body_key},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    client.post("/login/", {"username": "alice", "password": "pw-alice-123"})
    client.get(f"/v1/autoskill/skills/{path_key}")
    id_key = "sk-proj-" + "Rt5" * 12  # a plain token, so kept as the request id
    client.get("/health", HTTP_X_REQUEST_ID=id_key)
    # then
    output = console.getvalue()
    lines = _lines(console)
    assert len(lines) == 4
    assert lines[0]["key_prefix"] == issued.api_key.prefix
    for secret in (issued.secret, body_key, "pw-alice-123", path_key, id_key):
        assert secret not in output
    assert "<SECRET:" in lines[2]["path"]
    assert "<SECRET:" in lines[3]["request_id"]


@pytest.mark.django_db
def test_the_log_can_be_switched_off(client, console):
    logging.getLogger("autoskill.requests").setLevel(logging.WARNING)
    try:
        client.get("/health")
    finally:
        logging.getLogger("autoskill.requests").setLevel(logging.INFO)
    assert _lines(console) == []


async def _key(user):  # noqa: ANN001, ANN202
    from asgiref.sync import sync_to_async

    return await sync_to_async(api_key_create)(owner=user)
