# ruff: noqa: F811 - pytest injects the fixtures imported from chat_fixtures by name
"""The chat WebSocket at /ws/chat/ through the full ASGI stack (origin, session auth)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from autoskill_site.asgi import application
from autoskill_site.providers.upstream import upstream_aclose_all
from extraction.jobs import job_claim
from extraction.models import ExtractionJob, JobEvent
from extraction.pipeline import job_run
from extraction.services import extraction_submit
from proxy.chat_sessions import chat_session_create
from proxy.consumers import CLOSE_UNAUTHENTICATED
from proxy.models import ChatMessage, ChatSession
from tests.factories import make_skill
from tests.proxy.chat_fixtures import (  # noqa: F401 - fixtures
    stream_then_stall,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "Please write the release notes for 2.0"
RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."
# An upper bound so a broken consumer fails the test instead of hanging it; no
# assertion depends on how fast anything is.
WAIT = 30


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
async def sockets() -> AsyncIterator[Callable[..., Any]]:
    """Open /ws/chat/ as a user (or anonymously); every socket is closed afterwards."""
    opened: list[WebsocketCommunicator] = []

    async def open_socket(user: Any = None) -> WebsocketCommunicator:
        headers = [(b"origin", b"http://localhost")]
        if user is not None:
            key = await database_sync_to_async(_session_cookie)(user)
            headers.append((b"cookie", f"sessionid={key}".encode()))
        socket = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, _ = await socket.connect(timeout=WAIT)
        assert connected
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        await socket.disconnect(timeout=WAIT)
    await upstream_aclose_all()


async def recv(socket: WebsocketCommunicator) -> dict[str, Any]:
    return await socket.receive_json_from(timeout=WAIT)


async def recv_until(
    socket: WebsocketCommunicator, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Messages up to and including the first one `done` accepts."""
    seen = []
    while True:
        message = await recv(socket)
        seen.append(message)
        if done(message):
            return seen


def _is(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message["type"] == kind


def _messages(session_id: object) -> list[tuple[str, str, str]]:
    rows = ChatMessage.objects.filter(session_id=session_id).order_by("seq")
    return [(m.role, m.content, m.status) for m in rows]


messages_of = database_sync_to_async(_messages)


async def test_a_turn_streams_retrieval_first_tokens_then_done(upstream, user, sockets):
    """A chat without session id makes a session; its turn events arrive in order."""
    # given
    skill = await database_sync_to_async(make_skill)(
        owner=user, title="Release notes writer"
    )
    upstream.reply_chat("Summary first, then breaking changes.")
    socket = await sockets(user)
    # when
    await socket.send_json_to({"type": "chat", "text": QUESTION})
    received = await recv_until(socket, _is("done"))
    # then
    created, *turn = received
    assert created["type"] == "session.created"
    assert created["session"]["title"] == "New chat"
    session_id = created["session"]["id"]
    # The first message names the session, announced right after the retrieval.
    renamed = turn.pop(1)
    assert renamed["type"] == "session.renamed"
    assert renamed["session"]["title"] == QUESTION
    kinds = [m["type"] for m in turn]
    assert kinds[0] == "retrieval" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 4
    assert {m["session_id"] for m in turn} == {session_id}
    assert [h["id"] for h in turn[0]["retrieval"]["hits"]] == [str(skill.pk)]
    reply = "".join(m["text"] for m in turn if m["type"] == "token")
    assert reply == "Summary first, then breaking changes."
    assert turn[-1]["status"] == "complete"
    assert await messages_of(session_id) == [
        ("user", QUESTION, "complete"),
        ("assistant", reply, "complete"),
    ]


async def test_stop_mid_stream_keeps_the_partial_reply_and_one_turn_at_a_time(
    upstream, user, sockets
):
    """While a reply streams a second chat is refused; stop saves what came."""
    # given
    session = await database_sync_to_async(chat_session_create)(user=user)
    stream_then_stall(upstream, ["Part one,", " part two"])
    socket = await sockets(user)
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": QUESTION}
    )
    streamed = await recv_until(
        socket, lambda m: m.get("text") == " part two"
    )  # the upstream now stalls
    # when
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": "another"}
    )
    refused = await recv(socket)
    await socket.send_json_to({"type": "stop"})
    done = await recv(socket)
    # then
    assert [m["type"] for m in streamed] == [
        "retrieval",
        "session.renamed",
        "token",
        "token",
    ]
    assert refused["type"] == "error" and refused["request"] == "chat"
    assert "still streaming" in refused["message"]
    assert done["type"] == "done" and done["status"] == "stopped"
    assert await messages_of(session.pk) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Part one, part two", "stopped"),
    ]


async def test_regenerate_replaces_the_last_reply(upstream, user, sockets):
    # given
    upstream.reply_chat("First answer.", "Second answer.")
    socket = await sockets(user)
    await socket.send_json_to({"type": "chat", "text": QUESTION})
    session_id = (await recv_until(socket, _is("done")))[0]["session"]["id"]
    # when
    await socket.send_json_to({"type": "regenerate", "session_id": session_id})
    events = await recv_until(socket, _is("done"))
    # then
    assert events[0]["type"] == "retrieval" and events[0]["regenerated"] is True
    assert await messages_of(session_id) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Second answer.", "complete"),
    ]


async def test_slash_commands_over_the_socket(user, sockets):
    """`/scope user` changes the session; the full-width `／help` is a command too."""
    # given
    session = await database_sync_to_async(chat_session_create)(user=user)
    socket = await sockets(user)
    # when
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": "/scope user"}
    )
    scope = await recv(socket)
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": "／help"}
    )
    help_ = await recv(socket)
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": "/nonsense"}
    )
    unknown = await recv(socket)
    # then
    assert scope["type"] == "command" and scope["ok"] is True
    assert scope["settings"] == {"scope": "user"}
    assert scope["session_id"] == str(session.pk)
    await database_sync_to_async(session.refresh_from_db)()
    assert session.scope == "user"
    assert help_["command"] == "/help" and "/extract_now" in help_["text"]
    assert unknown["ok"] is False and "Unknown command" in unknown["text"]
    assert await messages_of(session.pk) == []


async def test_anonymous_socket_is_closed_with_4401(sockets, settings):
    # Only authentication matters here; with channels-redis the cancelled receive of a
    # socket the server already closed can time out in teardown under load.
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    socket = await sockets(None)
    closed = await socket.receive_output(timeout=WAIT)
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_bad_input_is_an_error_and_the_socket_stays_open(user, sockets):
    # given
    socket = await sockets(user)
    # when
    await socket.send_to(text_data="not json")
    await socket.send_json_to(["a", "list"])
    await socket.send_json_to({"type": "shout"})
    await socket.send_json_to({"type": "chat"})
    await socket.send_json_to({"type": "chat", "text": "   "})
    await socket.send_json_to({"type": "session.rename", "session_id": "x"})
    errors = [await recv(socket) for _ in range(6)]
    await socket.send_json_to({"type": "session.list"})
    listed = await recv(socket)
    # then
    assert [e["type"] for e in errors] == ["error"] * 6
    messages = [e["message"] for e in errors]
    assert "not valid JSON" in messages[0]
    assert "JSON object" in messages[1]
    assert "Unknown message type 'shout'" in messages[2]
    assert "`text` must be a string" in messages[3]
    assert "empty" in messages[4]
    assert "`title` must be a string" in messages[5]
    assert listed == {"type": "session.list", "sessions": []}


async def test_sessions_are_listed_created_renamed_and_deleted(user, sockets):
    # given
    socket = await sockets(user)
    # when
    await socket.send_json_to({"type": "session.create", "settings": {"top_k": 2}})
    created = (await recv(socket))["session"]
    await socket.send_json_to(
        {"type": "session.rename", "session_id": created["id"], "title": " Notes "}
    )
    renamed = await recv(socket)
    await socket.send_json_to({"type": "session.list"})
    listed = await recv(socket)
    await socket.send_json_to({"type": "session.delete", "session_id": created["id"]})
    deleted = await recv(socket)
    # then
    assert created["settings"]["top_k"] == 2 and created["title"] == "New chat"
    assert renamed["session"]["title"] == "Notes"
    assert [s["id"] for s in listed["sessions"]] == [created["id"]]
    assert deleted == {"type": "session.deleted", "session_id": created["id"]}
    exists = database_sync_to_async(ChatSession.objects.filter(owner=user).exists)
    assert await exists() is False


async def test_another_users_session_cannot_be_used(
    upstream, user, other_user, sockets
):
    """Bob cannot chat in, regenerate, rename, delete or list alice's session."""
    # given
    alices = await database_sync_to_async(chat_session_create)(
        user=user, title="Alice's chat"
    )
    bob = await sockets(other_user)
    attempts = [
        {"type": "chat", "session_id": str(alices.pk), "text": QUESTION},
        {"type": "chat", "session_id": str(alices.pk), "text": "/scope user"},
        {"type": "regenerate", "session_id": str(alices.pk)},
        {"type": "session.rename", "session_id": str(alices.pk), "title": "mine"},
        {"type": "session.delete", "session_id": str(alices.pk)},
    ]
    # when
    answers = []
    for attempt in attempts:
        await bob.send_json_to(attempt)
        answers.append(await recv(bob))
    await bob.send_json_to({"type": "session.list"})
    listed = await recv(bob)
    # then
    assert [a["type"] for a in answers] == ["error"] * len(attempts)
    assert all("No chat session" in a["message"] for a in answers)
    assert listed["sessions"] == []
    await database_sync_to_async(alices.refresh_from_db)()
    assert (alices.title, alices.scope) == ("Alice's chat", "all")
    assert await messages_of(alices.pk) == []
    assert upstream.requests_to("/v1/chat/completions") == []


def _submit_and_run(user: Any) -> ExtractionJob:
    job, _ = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": RELEASE}],
        trigger="extract_now",
    )
    # What the worker does for one task (its command needs the main thread's signals).
    job_run(job=job_claim(job_id=job.pk))
    job.refresh_from_db()
    return job


async def test_pushed_job_events_reach_only_the_owner(user, other_user, sockets):
    """A job of alice's, run as the worker runs it, reaches her socket and never bob's."""
    # given
    alice = await sockets(user)
    bob = await sockets(other_user)
    # when
    job = await database_sync_to_async(_submit_and_run)(user)
    events = await recv_until(
        alice, lambda m: m.get("event", {}).get("status") == "completed"
    )
    await bob.send_json_to({"type": "session.list"})
    bobs_first = await recv(bob)
    # then
    assert job.status == "completed"
    assert {m["type"] for m in events} == {"job.event"}
    assert {m["event"]["job_id"] for m in events} == {str(job.pk)}
    assert [m["event"]["status"] for m in events] == [
        "scheduled",
        "running",
        "completed",
    ]
    assert events[-1]["event"]["upserted"] == job.upserted
    # Pushes are queued as they are sent: a leaked event would be ahead of the list.
    assert bobs_first["type"] == "session.list"


def _finish_elsewhere(job_id: str) -> None:
    """What a worker in another process does, minus the push this process cannot see."""
    job = ExtractionJob.objects.get(pk=job_id)
    JobEvent.objects.create(job=job, user=job.user, seq=2, status="running")
    ExtractionJob.objects.filter(pk=job_id).update(
        status="completed", outcome="no_candidate"
    )
    JobEvent.objects.create(
        job=job, user=job.user, seq=3, status="completed", message="no_candidate"
    )


async def test_the_socket_follows_its_jobs_by_reading_event_rows(
    upstream, user, sockets
):
    """Events of a job from /extract_now arrive once each, even with no push at all."""
    # given
    upstream.reply_chat("Use the checklist.")
    socket = await sockets(user)
    await socket.send_json_to({"type": "chat", "text": RELEASE})
    session_id = (await recv_until(socket, _is("done")))[0]["session"]["id"]
    await socket.send_json_to(
        {"type": "chat", "session_id": session_id, "text": "/extract_now releases"}
    )
    command = (await recv_until(socket, _is("command")))[-1]
    job_id = command["job_id"]
    # when
    await database_sync_to_async(_finish_elsewhere)(job_id)
    followed = await recv_until(
        socket, lambda m: m.get("event", {}).get("status") == "completed"
    )
    await socket.send_json_to({"type": "session.list"})
    rest = await recv_until(socket, _is("session.list"))
    # then
    assert command["ok"] is True and job_id
    job_events = [m["event"] for m in [*followed, *rest] if m["type"] == "job.event"]
    assert [e["status"] for e in job_events] == ["scheduled", "running", "completed"]
    assert {e["job_id"] for e in job_events} == {job_id}
    assert len({e["event_id"] for e in job_events}) == 3
    assert job_events[-1]["outcome"] == "no_candidate"


async def test_closing_the_tab_mid_reply_saves_it_as_stopped(upstream, user, sockets):
    # given
    session = await database_sync_to_async(chat_session_create)(user=user)
    stream_then_stall(upstream, ["Only this"])
    socket = await sockets(user)
    await socket.send_json_to(
        {"type": "chat", "session_id": str(session.pk), "text": QUESTION}
    )
    await recv_until(socket, _is("token"))
    # when
    await socket.disconnect(timeout=WAIT)
    # then
    assert await messages_of(session.pk) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Only this", "stopped"),
    ]


async def test_the_job_of_an_auto_extracting_turn_is_followed(upstream, user, sockets):
    """`done.extraction.job_id` is followed like a command's job."""
    # given
    session = await database_sync_to_async(chat_session_create)(
        user=user, settings={"extract_mode": "always"}
    )
    upstream.reply_chat("Draft one.", "Draft two.")
    socket = await sockets(user)
    for text in (RELEASE, "No emojis, please."):
        await socket.send_json_to(
            {"type": "chat", "session_id": str(session.pk), "text": text}
        )
        done = (await recv_until(socket, _is("done")))[-1]
    job_id = done["extraction"]["job_id"]
    # when
    await database_sync_to_async(_finish_elsewhere)(job_id)
    followed = await recv_until(
        socket, lambda m: m.get("event", {}).get("status") == "completed"
    )
    # then
    statuses = [m["event"]["status"] for m in followed if m["type"] == "job.event"]
    assert statuses[-2:] == ["running", "completed"]
    assert {m["event"]["job_id"] for m in followed} == {job_id}
