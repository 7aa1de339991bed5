"""Scale-out: two web servers and two workers on one PostgreSQL and one Redis.

The docker-compose topology without Docker: two `daphne` processes and two
`extraction_worker` processes on loopback, sharing the test database and the Redis
channel layer. A browser socket on server A chats and asks `/extract_now`; a socket of
the same user on server B, which never ran that turn, receives the job's events as
the worker pushes them through Redis, up to `completed`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import websocket
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from extraction.models import ExtractionJob, JobEvent
from skills.models import Skill
from tests.extraction.llm_fixtures import RELEASE_SKILL
from tests.fakes.openai_server import CHAT
from tests.integration.cluster import Cluster

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL): several processes share the database",
    ),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="needs Redis (REDIS_URL): the channel layer that joins the servers",
    ),
    pytest.mark.django_db(transaction=True),
]

TURN_SECONDS = 60.0
JOB_SECONDS = 90.0
RELEASE_TEXT = (
    "Before each release: run the regression suite, then a canary, monitor it, "
    "and only then roll out to everyone."
)


def session_cookie(user: Any) -> str:
    """A logged-in session for `user`, as the login page would have stored it."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def connect(port: int, cookie: str) -> websocket.WebSocket:
    return websocket.create_connection(
        f"ws://127.0.0.1:{port}/ws/chat/",
        cookie=cookie,
        origin=f"http://127.0.0.1:{port}",
        timeout=TURN_SECONDS,
    )


def read_until(
    ws: websocket.WebSocket,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    seen: list[dict[str, Any]],
) -> dict[str, Any]:
    """Messages into `seen` until one satisfies `done` (returned); bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            kinds = [m.get("type") for m in seen][-20:]
            raise AssertionError(f"no expected message in {timeout:.0f}s; saw {kinds}")
        # Short reads: the client answers the server's pings inside recv(), and each
        # ping would restart a long read's timeout, so the deadline is checked here.
        ws.settimeout(min(remaining, 1.0))
        try:
            message = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            continue
        seen.append(message)
        if done(message):
            return message


def test_a_job_started_through_one_server_reaches_a_socket_on_the_other(
    user, fake_openai, store_dir, tmp_path
):
    # given: both model purposes (chat and extraction) get a skill candidate as text
    fake_openai.chat_text = json.dumps({"skills": [RELEASE_SKILL]})
    cookie = session_cookie(user)
    cluster = Cluster.for_test(
        logs=tmp_path / "logs", store_dir=store_dir, llm_url=fake_openai.base_url
    )
    sockets: list[websocket.WebSocket] = []
    try:
        server_a, server_b = cluster.web("web-a"), cluster.web("web-b")
        cluster.worker("worker-1")
        cluster.worker("worker-2")
        cluster.wait_ready(server_a, server_b)
        on_b: list[dict[str, Any]] = []
        socket_b = connect(server_b.port, cookie)
        sockets.append(socket_b)
        # B answers as alice: its group subscription is in place before anything runs.
        socket_b.send(json.dumps({"type": "session.list"}))
        read_until(
            socket_b, lambda m: m["type"] == "session.list", timeout=30, seen=on_b
        )
        on_a: list[dict[str, Any]] = []
        socket_a = connect(server_a.port, cookie)
        sockets.append(socket_a)

        # when: a turn through A, then /extract_now through A
        socket_a.send(json.dumps({"type": "chat", "text": RELEASE_TEXT}))
        created = read_until(
            socket_a, lambda m: m["type"] == "session.created", timeout=30, seen=on_a
        )
        session_id = created["session"]["id"]
        read_until(
            socket_a, lambda m: m["type"] == "done", timeout=TURN_SECONDS, seen=on_a
        )
        socket_a.send(
            json.dumps(
                {"type": "chat", "session_id": session_id, "text": "/extract_now"}
            )
        )
        command = read_until(
            socket_a, lambda m: m["type"] == "command", timeout=30, seen=on_a
        )
        job_id = command["job_id"]
        assert command["ok"] and job_id, command

        def completed_on_b(message: dict[str, Any]) -> bool:
            event = message.get("event") or {}
            return (
                message["type"] == "job.event"
                and event.get("job_id") == job_id
                and event.get("status") in ("completed", "failed")
            )

        final = read_until(socket_b, completed_on_b, timeout=JOB_SECONDS, seen=on_b)
        cluster.check_alive()
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster.report()}") from None
    finally:
        for ws in sockets:
            ws.close()
        cluster.stop()

    # then: B received the worker's push for a turn it never ran
    assert final["event"]["status"] == "completed", final
    assert final["event"]["upserted"], final
    job_events_on_b = [
        m["event"]
        for m in on_b
        if m["type"] == "job.event" and m["event"]["job_id"] == job_id
    ]
    assert [e["status"] for e in job_events_on_b][-1] == "completed"
    assert not [m for m in on_b if m["type"] in ("token", "done", "command")]
    job = ExtractionJob.objects.get(pk=job_id)
    assert (job.status, job.outcome, job.attempts) == ("completed", "added", 1)
    stored = {e.pk for e in JobEvent.objects.filter(job=job)}
    assert {e["event_id"] for e in job_events_on_b} <= stored
    assert Skill.objects.filter(owner=user, name=RELEASE_SKILL["name"]).count() == 1
    # The chat turn and the extraction both reached the (only) model server.
    assert len(fake_openai.requests_to(CHAT)) >= 2
