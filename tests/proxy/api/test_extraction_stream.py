"""The SSE stream of a job's events, consumed through ASGI (django.test.AsyncClient)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from extraction.models import JobEvent, JobTrigger
from extraction.services import extraction_submit
from proxy.api import extraction_stream
from proxy.auth import api_key_create
from tests.proxy.api.extraction_fixtures import RELEASE, run_job

pytestmark = pytest.mark.django_db(transaction=True)


def _headers(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key_create(owner=user).secret}"}


@pytest.fixture
def key(user) -> dict[str, str]:
    return _headers(user)


@pytest.fixture
def other_key(other_user) -> dict[str, str]:
    return _headers(other_user)


@pytest.fixture
def job_id(user) -> str:
    job, _ = extraction_submit(
        user=user, messages=RELEASE, trigger=JobTrigger.PROXY_EXTRACT_NOW
    )
    return str(job.pk)


def url(job_id: str) -> str:
    return f"/v1/autoskill/extractions/{job_id}/events"


def parse(frame: str) -> dict[str, Any]:
    """One SSE frame as {"id", "event", "data", "comment"}."""
    out: dict[str, Any] = {"comment": []}
    for line in frame.split("\n"):
        if line.startswith(":"):
            out["comment"].append(line[1:].strip())
            continue
        name, _, value = line.partition(": ")
        if name == "data":
            out["data"] = value if value == "[DONE]" else json.loads(value)
        elif name in ("id", "event", "retry"):
            out[name] = value
    return out


async def frames_of(response) -> list[dict[str, Any]]:
    text = b"".join([chunk async for chunk in response.streaming_content]).decode()
    return [parse(f) for f in text.split("\n\n") if f.strip()]


def updates(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("event") == "update"]


async def test_a_finished_job_streams_every_event_in_order_then_done(
    async_client, key, job_id
):
    await sync_to_async(run_job)(job_id)
    ids = await sync_to_async(
        lambda: list(
            JobEvent.objects.filter(job_id=job_id).values_list("pk", flat=True)
        )
    )()

    response = await async_client.get(url(job_id), headers=key)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Accel-Buffering"] == "no"
    frames = await frames_of(response)
    got = updates(frames)
    assert [int(f["id"]) for f in got] == ids
    assert [f["data"]["status"] for f in got] == ["scheduled", "running", "completed"]
    assert all(f["data"]["job_id"] == job_id for f in got)
    done = [f for f in frames if f.get("event") == "done"]
    assert len(done) == 1
    assert done[0]["data"]["reason"] == "terminal"
    assert done[0]["data"]["status"] == "completed"
    assert "id" not in done[0]  # resuming goes on from the last update, not past done
    assert frames[-1]["data"] == "[DONE]"


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resume_after_an_event_id_sends_only_newer_events(
    async_client, key, job_id, how
):
    await sync_to_async(run_job)(job_id)
    first = await sync_to_async(
        lambda: JobEvent.objects.filter(job_id=job_id).order_by("pk").first().pk
    )()

    if how == "header":
        response = await async_client.get(
            url(job_id), headers={**key, "Last-Event-ID": str(first)}
        )
    else:
        response = await async_client.get(
            url(job_id), {"after": str(first)}, headers=key
        )

    got = updates(await frames_of(response))
    assert [f["data"]["status"] for f in got] == ["running", "completed"]
    assert all(int(f["id"]) > first for f in got)


async def test_events_written_while_streaming_are_sent_live(async_client, key, job_id):
    response = await async_client.get(url(job_id), {"timeout_s": 60}, headers=key)
    stream = aiter(response.streaming_content)
    seen: list[dict[str, Any]] = []
    while not updates(seen):
        seen.append(parse((await anext(stream)).decode()))
    assert updates(seen)[0]["data"]["status"] == "scheduled"

    await sync_to_async(run_job)(job_id)  # the job runs while the stream is open

    rest = [parse(chunk.decode()) async for chunk in stream]
    assert [f["data"]["status"] for f in updates(rest)] == ["running", "completed"]
    done = [f for f in rest if f.get("event") == "done"]
    assert done and done[0]["data"]["reason"] == "terminal"


async def test_a_job_that_does_not_finish_ends_at_the_timeout(
    async_client, key, job_id, monkeypatch
):
    monkeypatch.setattr(extraction_stream, "KEEPALIVE_SECONDS", 0.0)

    response = await async_client.get(url(job_id), {"timeout_s": 1}, headers=key)

    frames = await frames_of(response)
    assert [f["data"]["status"] for f in updates(frames)] == ["scheduled"]
    assert any("keep-alive" in f["comment"] for f in frames)
    done = [f for f in frames if f.get("event") == "done"][0]
    assert (done["data"]["reason"], done["data"]["status"]) == ("timeout", "scheduled")
    assert done["data"]["last_event_id"] == int(updates(frames)[0]["id"])


async def test_another_users_job_is_a_404_envelope_not_a_stream(
    async_client, other_key, job_id
):
    theirs = await async_client.get(url(job_id), headers=other_key)
    missing = await async_client.get(url(str(uuid.uuid4())), headers=other_key)

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "invalid_api_key"),
        ({"Authorization": "Bearer ask_wrong"}, "invalid_api_key"),
    ],
)
async def test_without_a_valid_key_it_is_a_401_envelope(
    async_client, job_id, headers, code
):
    response = await async_client.get(url(job_id), headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"timeout_s": "0"}, "timeout_s"),
        ({"timeout_s": "301"}, "timeout_s"),
        ({"timeout_s": "soon"}, "timeout_s"),
        ({"after": "-1"}, "after"),
    ],
)
async def test_bad_parameters_are_400_envelopes(
    async_client, key, job_id, query, param
):
    response = await async_client.get(url(job_id), query, headers=key)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


async def test_a_browser_session_can_stream_its_own_job(async_client, user, job_id):
    await sync_to_async(run_job)(job_id)
    await async_client.aforce_login(user)

    response = await async_client.get(url(job_id))

    assert response.status_code == 200
    statuses = [f["data"]["status"] for f in updates(await frames_of(response))]
    assert statuses == ["scheduled", "running", "completed"]


async def test_post_is_not_allowed(async_client, key, job_id):
    response = await async_client.post(url(job_id), headers=key)

    assert response.status_code == 405
    assert response.json()["error"]["type"] == "invalid_request_error"
