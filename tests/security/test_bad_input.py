"""Hostile bodies on the /v1 endpoints, the pages and the chat socket: a clear 4xx.

Bodies that are too large, not UTF-8, nested 100,000 levels deep or holding lone
surrogates; a huge SKILL.md and one whose YAML aliases expand a billion-fold; URLs and
headers with bytes that are not UTF-8; frames on the chat socket that are all of the
above. Every answer is an OpenAI error envelope (a page, on the pages) that says
what is wrong, never a 5xx, and nothing stored changes. Names that become paths are
in test_path_traversal.py.

The data is committed (`transaction=True`): the proxy's async views read the API key
on another thread.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from autoskill_site.asgi import application
from autoskill_site.sanitize import MAX_JSON_DEPTH
from proxy.auth import api_key_create
from skills.models import Skill
from tests.factories import make_skill
from tests.security.hostile import (
    JSON_ENDPOINTS,
    V1,
    call,
    envelope_problem,
    skill_md,
    zip_bytes,
)

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = 1_500_000  # over AUTOSKILL_MAX_FILE_BYTES (1 MB), under Django's 2.5 MB form cap
TOO_LARGE = 25_000_000  # over every default request limit (the largest is ~21 MB)
BOMB = "\n".join(
    [
        "---",
        "name: bomb",
        "description: A skill whose frontmatter expands a billion-fold.",
        "a: &a [x, x, x, x, x, x, x, x, x]",
        *(
            f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]"
            for p, k in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "---",
        "",
        "# Bomb",
        "",
    ]
)


# -- bodies -------------------------------------------------------------------------


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


NESTED_BODIES = {
    "100k levels of lists": b"[" * 100_000 + b"]" * 100_000,
    "100k levels of objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    # Valid requests, except one field nested past the limit but well within
    # Python's recursion limit: what later recursive walks used to choke on.
    "a field nested past the limit": json.dumps(
        {
            "model": "fake-chat",
            "messages": [{"role": "user", "content": "hi"}],
            "input": "hi",
            "query": "hi",
            "to_number": 1,
            "extra": _nested(MAX_JSON_DEPTH + 50),
        }
    ),
}


@pytest.mark.parametrize("shape", list(NESTED_BODIES))
def test_deeply_nested_json_is_a_400_everywhere(hostile, shape):
    """No RecursionError reaches the client as a 500; the message says why."""
    problems = {}
    for method, path in JSON_ENDPOINTS:
        response = call(hostile, method, path, NESTED_BODIES[shape])
        problem = envelope_problem(response, 400)
        if problem is None and "levels deep" not in response.json()["error"]["message"]:
            problem = f"unclear message: {response.json()['error']['message']!r}"
        if problem:
            problems[path] = problem
    assert problems == {}


def test_invalid_utf8_is_a_400_everywhere(hostile):
    latin1 = (
        b'{"messages": [{"role": "user", "content": "caf\xe9"}], "query": "caf\xe9"}'
    )
    problems = {}
    for method, path in JSON_ENDPOINTS:
        response = call(hostile, method, path, latin1)
        if problem := envelope_problem(response, 400):
            problems[path] = problem
    # SKILL.md as text, and as an uploaded file.
    skill_md = "---\nname: cafe\ndescription: Caf\xe9.\n---\n".encode("latin-1")
    for content_type in ("text/markdown", "text/plain"):
        response = call(
            hostile,
            "put",
            f"{V1}/skills/{{skill}}/md",
            skill_md,
            content_type=content_type,
        )
        if problem := envelope_problem(response, 400):
            problems[content_type] = problem
    upload = SimpleUploadedFile("SKILL.md", skill_md, content_type="text/markdown")
    response = hostile["client"].post(
        f"{V1}/skills/import", {"file": upload}, **hostile["headers"]
    )
    if problem := envelope_problem(response, 400):
        problems["import"] = problem
    assert problems == {}
    hostile["skill"].refresh_from_db()
    assert hostile["skill"].version_number == 1


def test_lone_surrogates_are_a_400_everywhere(hostile):
    """`"\\udcff"` is valid JSON but not Unicode: nothing can encode or store it."""
    body = json.dumps(
        {
            "model": "fake-chat",
            "messages": [{"role": "user", "content": "hi \udcff"}],
            "input": "\udcff",
            "query": "\udcff x",
            "to_number": 1,
            "skill_md": "---\nname: a\ndescription: \udcff\n---\n",
        }
    )
    problems = {}
    for method, path in JSON_ENDPOINTS:
        response = call(hostile, method, path, body)
        problem = envelope_problem(response, 400)
        if problem is None and "urrogate" not in response.json()["error"]["message"]:
            problem = f"unclear message: {response.json()['error']['message']!r}"
        if problem:
            problems[path] = problem
    assert problems == {}
    # A surrogate pair is an ordinary character (an emoji as Python's json.dumps
    # sends it): accepted.
    emoji = json.dumps({"query": "deploy \U0001f680", "limit": 1})
    assert call(hostile, "post", f"{V1}/skills/search", emoji).status_code == 200


def test_undecodable_urls_and_headers_are_answered_not_500(hostile):
    """Percent-encoded bytes that are not UTF-8 in paths, queries and headers."""
    client, headers = hostile["client"], hostile["headers"]
    service = api_key_create(owner=hostile["skill"].owner, can_act_for_users=True)
    answers = {
        "query": client.get(f"{V1}/skills?q=%ff%fe&tag=%c0%af&cursor=%ff", **headers),
        "skill id": client.get(f"{V1}/skills/%ff%fe", **headers),
        "job id": client.get(f"{V1}/extractions/%c0%af", **headers),
        "sub-user": client.get(
            f"{V1}/skills",
            HTTP_AUTHORIZATION=f"Bearer {service.secret}",
            # A server decodes header bytes as latin-1: UTF-8 and stray bytes.
            HTTP_X_AUTOSKILL_USER="caf\xc3\xa9\xff\xfe../..",
        ),
    }
    assert {
        name: r.status_code for name, r in answers.items() if r.status_code >= 500
    } == {}


def test_oversized_bodies_are_413_envelopes(hostile):
    """Over every limit: a 413 in the OpenAI envelope, before anything is stored."""
    too_large = b'{"x": "' + b"a" * TOO_LARGE + b'"}'
    problems = {}
    for method, path in JSON_ENDPOINTS:
        response = call(hostile, method, path, too_large)
        if problem := envelope_problem(response, 413):
            problems[path] = problem
    upload = SimpleUploadedFile("big.zip", b"PK\x03\x04" + b"\0" * TOO_LARGE)
    response = hostile["client"].post(
        f"{V1}/skills/import", {"file": upload}, **hostile["headers"]
    )
    if problem := envelope_problem(response, 413):
        problems["skills/import"] = problem
    assert problems == {}
    assert Skill.objects.count() == 1


def test_oversized_page_forms_answer_a_page_not_a_500(client, user):
    """The browser pages under the same limits answer a readable page."""
    client.force_login(user)
    skill = make_skill(owner=user)
    huge = "x" * TOO_LARGE
    for path in ("/skills/new/", f"/skills/{skill.pk}/edit/", "/skills/validate/"):
        response = client.post(path, {"skill_md": huge, "version_number": "1"})
        assert response.status_code == 413, (path, response.status_code)
    skill.refresh_from_db()
    assert skill.version_number == 1


def test_a_huge_skill_md_is_refused_with_its_limit(hostile, client, user):
    huge_md = skill_md("huge", "x" * HUGE)
    problems = {}
    for label, content_type, body in (
        ("json", "application/json", json.dumps({"skill_md": huge_md})),
        ("markdown", "text/markdown", huge_md),
    ):
        response = call(
            hostile, "put", f"{V1}/skills/{{skill}}/md", body, content_type=content_type
        )
        if problem := envelope_problem(response, 413):
            problems[label] = problem
        elif "limit" not in response.json()["error"]["message"]:
            problems[label] = response.json()["error"]["message"]
    upload = SimpleUploadedFile("SKILL.md", huge_md.encode(), content_type="text/plain")
    response = hostile["client"].post(
        f"{V1}/skills/import", {"file": upload}, **hostile["headers"]
    )
    if problem := envelope_problem(response, 413):
        problems["upload"] = problem
    archive = SimpleUploadedFile("huge.zip", zip_bytes({"huge/SKILL.md": huge_md}))
    response = hostile["client"].post(
        f"{V1}/skills/import", {"file": archive}, **hostile["headers"]
    )
    # The only SKILL.md is skipped as too large, so the archive holds no skill.
    if problem := envelope_problem(response, (400, 413)):
        problems["zip"] = problem
    assert problems == {}
    # The editor page keeps the text and says what is wrong.
    skill = hostile["skill"]
    client.force_login(user)
    page = client.post(
        f"/skills/{skill.pk}/edit/",
        {"skill_md": huge_md, "version_number": str(skill.version_number)},
    )
    assert page.status_code in (200, 400, 413), page.status_code
    assert b"1000000" in page.content or b"1,000,000" in page.content
    skill.refresh_from_db()
    assert (skill.version_number, skill.title) == (1, "Original title")
    assert Skill.objects.count() == 1


def test_a_yaml_alias_bomb_is_refused_quickly(hostile, client, user):
    """Nine aliases of nine aliases ...: 500 bytes that expand to 387 million values."""
    response = call(
        hostile, "put", f"{V1}/skills/{{skill}}/md", json.dumps({"skill_md": BOMB})
    )
    assert envelope_problem(response, 400) is None, response.content[:300]
    assert "expands to more than" in response.json()["error"]["message"]
    upload = SimpleUploadedFile("SKILL.md", BOMB.encode(), content_type="text/markdown")
    response = hostile["client"].post(
        f"{V1}/skills/import", {"file": upload}, **hostile["headers"]
    )
    assert envelope_problem(response, 400) is None, response.content[:300]
    client.force_login(user)
    checked = client.post("/skills/validate/", {"skill_md": BOMB})
    assert checked.status_code == 200
    assert "expands to more than" in json.dumps(checked.json())
    assert Skill.objects.count() == 1


# -- the chat socket ----------------------------------------------------------------


def _session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def test_hostile_socket_frames_get_an_error_and_the_socket_stays_open(user):
    cookie = await database_sync_to_async(_session_cookie)(user)
    socket = WebsocketCommunicator(
        application,
        "/ws/chat/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    connected, _ = await socket.connect(timeout=10)
    assert connected
    frames = {
        "100k levels": "[" * 100_000 + "]" * 100_000,
        "nested settings": json.dumps(
            {
                "type": "session.create",
                "settings": {"top_k": _nested(MAX_JSON_DEPTH + 5)},
            }
        ),
        "not JSON": "{'type': 'chat'",
        "lone surrogate": '{"type": "session.create", "title": "\\udcff"}',
        "NUL title": json.dumps({"type": "session.create", "title": "a\x00b" * 50}),
    }
    answers = {}
    for label, frame in frames.items():
        await socket.send_to(text_data=frame)
        answers[label] = await socket.receive_json_from(timeout=10)
    await socket.send_json_to({"type": "session.list"})
    listed = await socket.receive_json_from(timeout=10)
    await socket.disconnect()
    assert answers["100k levels"]["type"] == "error"
    assert "levels deep" in answers["100k levels"]["message"]
    assert answers["nested settings"]["type"] == "error"
    assert answers["not JSON"]["type"] == "error"
    assert answers["lone surrogate"]["type"] == "error"
    assert "surrogate" in answers["lone surrogate"]["message"]
    # PostgreSQL cannot store NUL: it is dropped, not a crash of the socket.
    assert answers["NUL title"]["type"] == "session.created"
    assert answers["NUL title"]["session"]["title"] == "ab" * 50
    assert listed["type"] == "session.list"
