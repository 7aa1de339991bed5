# ruff: noqa: F811 - pytest injects the fixtures imported below by name
"""The chat settings over the socket: `session.configure`, and `chat` with settings.

The page's controls are driven in Chromium by tests/browser/test_chat_settings_browser.py."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from proxy.chat_sessions import chat_session_create, chat_session_settings
from proxy.models import ChatMessage, ChatSession
from tests.factories import make_skill
from tests.proxy.chat_fixtures import chunk, upstream  # noqa: F401 - fixture
from tests.proxy.test_chat_consumer import (  # noqa: F401 - fixture
    QUESTION,
    _is,
    recv,
    recv_until,
    sockets,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _settings_of(session_id: object) -> dict[str, Any]:
    return chat_session_settings(ChatSession.objects.get(pk=session_id))


settings_of = database_sync_to_async(_settings_of)
create_session = database_sync_to_async(chat_session_create)
count_sessions = database_sync_to_async(lambda: ChatSession.objects.count())
count_messages = database_sync_to_async(lambda: ChatMessage.objects.count())


async def test_configure_changes_the_session_and_says_what_changed(user, sockets):
    # given
    session = await create_session(user=user)
    before = await settings_of(session.pk)
    socket = await sockets(user)
    changes = {
        "scope": "user",
        "top_k": 9,
        "min_score": "0.35",
        "extract_mode": "never",
    }
    # when
    await socket.send_json_to(
        {
            "type": "session.configure",
            "session_id": str(session.pk),
            "settings": changes,
        }
    )
    first = await recv(socket)
    await socket.send_json_to(
        {
            "type": "session.configure",
            "session_id": str(session.pk),
            "settings": {"top_k": 9, "rewrite_mode": "always"},
        }
    )
    second = await recv(socket)
    # then
    assert first["type"] == "session.configured"
    assert first["changed"] == {
        "scope": "user",
        "top_k": 9,
        "min_score": 0.35,
        "extract_mode": "never",
    }
    assert first["session"]["id"] == str(session.pk)
    assert first["session"]["settings"] == {**before, **first["changed"]}
    assert second["changed"] == {"rewrite_mode": "always"}  # top_k was already 9
    assert await settings_of(session.pk) == {
        **before,
        **first["changed"],
        "rewrite_mode": "always",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"top_k": 0}, "top_k must be a whole number between 1 and 200"),
        ({"top_k": 201}, "top_k must be a whole number between 1 and 200"),
        ({"min_score": 1.5}, "min_score must be a number from 0 to 1"),
        ({"extract_turn_limit": "two"}, "extract_turn_limit must be a whole number"),
        ({"scope": "everyone"}, "scope must be one of"),
        ({"rewrite_mode": "sometimes"}, "rewrite_mode must be one of"),
        ({"scope": "user", "colour": "red"}, "Unknown chat setting(s) colour"),
        # The valid half of a bad change is not applied either.
        ({"scope": "user", "top_k": -3}, "top_k must be a whole number"),
        ({}, "`settings` must name at least one setting"),
        (["scope", "user"], "`settings` must be an object"),
        (None, "`settings` must be an object"),
    ],
)
async def test_a_bad_configure_is_an_error_and_changes_nothing(
    user, sockets, changes, expected
):
    # given
    session = await create_session(user=user)
    before = await settings_of(session.pk)
    socket = await sockets(user)
    # when
    await socket.send_json_to(
        {
            "type": "session.configure",
            "session_id": str(session.pk),
            "settings": changes,
        }
    )
    answer = await recv(socket)
    # then
    assert answer["type"] == "error" and answer["request"] == "session.configure"
    assert expected in answer["message"]
    assert await settings_of(session.pk) == before


async def test_configure_without_a_session_id_is_an_error(user, sockets):
    socket = await sockets(user)

    await socket.send_json_to({"type": "session.configure", "settings": {"top_k": 2}})
    answer = await recv(socket)

    assert answer["type"] == "error" and "`session_id`" in answer["message"]


async def test_another_users_session_cannot_be_configured(user, other_user, sockets):
    """Bob's attempt looks like an unknown id and alice's settings stay as they were."""
    # given
    alices = await create_session(user=user, settings={"scope": "library"})
    before = await settings_of(alices.pk)
    bob = await sockets(other_user)
    # when
    await bob.send_json_to(
        {
            "type": "session.configure",
            "session_id": str(alices.pk),
            "settings": {"scope": "user", "top_k": 1},
        }
    )
    valid = await recv(bob)
    await bob.send_json_to(
        {
            "type": "session.configure",
            "session_id": str(alices.pk),
            "settings": {"top_k": "lots"},
        }
    )
    invalid = await recv(bob)
    # then
    assert valid == {
        "type": "error",
        "message": f"No chat session {alices.pk}.",
        "request": "session.configure",
    }
    # A bad value does not reveal that the session exists either.
    assert invalid["message"] == valid["message"]
    assert await settings_of(alices.pk) == before


async def test_chat_with_settings_starts_a_session_that_retrieves_with_them(
    upstream, user, sockets
):
    """The user's own skill is left out because the new session searches the library."""
    # given
    await database_sync_to_async(make_skill)(owner=user, title="Release notes writer")
    upstream.reply_chat("Done.")
    socket = await sockets(user)
    chosen = {"scope": "library", "top_k": 2, "min_score": 0.4, "extract_mode": "never"}
    # when
    await socket.send_json_to({"type": "chat", "text": QUESTION, "settings": chosen})
    created, retrieval, *_ = await recv_until(socket, _is("done"))
    # then
    assert created["type"] == "session.created"
    assert created["session"]["settings"] == {
        **created["session"]["settings"],
        **chosen,
    }
    assert await settings_of(created["session"]["id"]) == created["session"]["settings"]
    assert retrieval["type"] == "retrieval"
    found = retrieval["retrieval"]
    assert (found["scope"], found["top_k"], found["min_score"]) == ("library", 2, 0.4)
    assert found["hits"] == []


async def test_a_first_command_runs_in_the_session_its_settings_made(user, sockets):
    socket = await sockets(user)

    await socket.send_json_to(
        {"type": "chat", "text": "/scope", "settings": {"scope": "user"}}
    )
    created = await recv(socket)
    command = await recv(socket)

    assert created["session"]["settings"]["scope"] == "user"
    assert command["type"] == "command" and "Current scope: user." in command["text"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"top_k": "many"}, "top_k must be a whole number"),
        ({"favourite": 1}, "Unknown chat setting(s) favourite"),
        ("scope=user", "`settings` must be an object"),
    ],
)
async def test_chat_with_bad_settings_creates_nothing(user, sockets, changes, expected):
    socket = await sockets(user)

    await socket.send_json_to({"type": "chat", "text": QUESTION, "settings": changes})
    answer = await recv(socket)

    assert answer["type"] == "error" and answer["request"] == "chat"
    assert expected in answer["message"]
    assert await count_sessions() == 0
    assert await count_messages() == 0


async def test_chat_settings_are_refused_for_an_existing_session(user, sockets):
    """An existing session changes only through session.configure: a page that kept
    stale choices cannot overwrite it by sending a message."""
    # given
    session = await create_session(user=user)
    before = await settings_of(session.pk)
    socket = await sockets(user)
    # when
    await socket.send_json_to(
        {
            "type": "chat",
            "session_id": str(session.pk),
            "text": QUESTION,
            "settings": {"scope": "user"},
        }
    )
    answer = await recv(socket)
    # then
    assert answer["type"] == "error" and answer["request"] == "chat"
    assert "session.configure" in answer["message"]
    assert await settings_of(session.pk) == before
    assert await count_messages() == 0
