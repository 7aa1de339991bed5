"""User A can never read, search, inject, export or stream user B's skills and jobs.

One walk over every /v1 operation that takes an id or returns skills, for three
identities of A: her API key, a trusted service key of hers acting for a sub-user
named like B ("bob"), and her browser session. B's data carries a marker word that
must never appear in anything A receives, nor in what the proxy sends upstream for A.
Every check has a control: B (or A on her own data) gets the thing, so a 404 here is
the owner check, never a broken endpoint. The last test makes sure every operation
of the OpenAPI document is classified here, so a new endpoint cannot skip the walk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import AsyncClient, Client

from extraction.models import ExtractionJob, JobTrigger
from extraction.services import extraction_submit
from proxy.auth import api_key_create
from skills.models import Skill
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT
from tests.proxy.live_server import use_fake_upstream

# B's data carries MARKER; A asks about TOPIC, which finds B's skill for B.
MARKER = "quokkaplatypus"
TOPIC = "zebra deployment checklist"
V1 = "/v1/autoskill"
# How each operation of the OpenAPI document is checked ("{}" = a path parameter).
BY_ID = "an id of B answers 404, B's object unchanged"
LISTS = "B's objects never listed, searched, retrieved or injected"
OWN_ONLY = "acts on the caller's own data; result stays A's"
STAFF = "staff only (non-staff: 403); aggregate counts, no skill content"
NO_USER_DATA = "answers no user data"
CLASSIFIED = {
    ("get", "/v1/autoskill/skills/{}"): BY_ID,
    ("delete", "/v1/autoskill/skills/{}"): BY_ID,
    ("get", "/v1/autoskill/skills/{}/md"): BY_ID,
    ("put", "/v1/autoskill/skills/{}/md"): BY_ID,
    ("get", "/v1/autoskill/skills/{}/versions"): BY_ID,
    ("post", "/v1/autoskill/skills/{}/rollback"): BY_ID,
    ("get", "/v1/autoskill/skills/{}/export"): BY_ID,
    ("get", "/v1/autoskill/extractions/{}"): BY_ID,
    ("get", "/v1/autoskill/extractions/{}/events"): BY_ID,
    ("get", "/v1/autoskill/conversations/import/{}"): BY_ID,
    ("get", "/v1/autoskill/skills"): LISTS,
    ("post", "/v1/autoskill/skills/search"): LISTS,
    ("post", "/v1/autoskill/retrieval/preview"): LISTS,
    ("get", "/v1/autoskill/extractions"): LISTS,
    ("get", "/v1/autoskill/extractions/latest"): LISTS,
    ("post", "/v1/chat/completions"): LISTS,
    ("post", "/v1/autoskill/extractions"): OWN_ONLY,
    ("post", "/v1/autoskill/extractions/simulate"): OWN_ONLY,
    ("post", "/v1/autoskill/skills/import"): OWN_ONLY,
    ("post", "/v1/autoskill/conversations/import"): OWN_ONLY,
    ("get", "/v1/autoskill/vectors/status"): STAFF,
    ("post", "/v1/autoskill/vectors/rebuild"): STAFF,
    ("get", "/v1/autoskill/capabilities"): NO_USER_DATA,
    ("post", "/v1/embeddings"): NO_USER_DATA,
    ("get", "/v1/models"): NO_USER_DATA,
    ("get", "/health"): NO_USER_DATA,
    ("get", "/ready"): NO_USER_DATA,
}


@dataclass
class Caller:
    """A's identity as a test client plus the headers every request carries."""

    client: Client
    headers: dict[str, str]

    def get(self, path: str, data: dict | None = None) -> Any:
        return self.client.get(path, data or {}, **self.headers)

    def send(self, method: str, path: str, payload: Any = None) -> Any:
        call = getattr(self.client, method)
        return call(path, payload, content_type="application/json", **self.headers)


SUB_USER = "service key as sub-user 'bob'"


@dataclass
class World:
    kind: str
    alice: Caller
    bob: Caller
    bobs_skill: Skill
    bobs_job: ExtractionJob
    bobs_import: str
    alices_skill: Skill


def _bearer(secret: str, **extra: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}", **extra}


def _alice(kind: str, user: Any) -> Caller:
    if kind == "key":
        return Caller(Client(), _bearer(api_key_create(owner=user).secret))
    if kind == SUB_USER:
        secret = api_key_create(owner=user, can_act_for_users=True).secret
        return Caller(Client(), _bearer(secret, HTTP_X_AUTOSKILL_USER="bob"))
    client = Client()
    client.force_login(user)
    return Caller(client, {})


@pytest.fixture
def upstream(settings, fake_openai):
    """The fake OpenAI server answers chat; every skill of the caller is a hit."""
    return use_fake_upstream(settings, fake_openai, top_k=5)


@pytest.fixture(params=["key", SUB_USER, "session"])
def world(request, user, other_user, upstream) -> World:
    bob = Caller(Client(), _bearer(api_key_create(owner=other_user).secret))
    bobs_skill = make_skill(
        owner=other_user,
        title="Bob zebra deployment checklist",
        description=f"Run the zebra deployment checklist ({MARKER}) before release.",
        instructions=f"# Goal\nAlways run the {MARKER} checklist.",
        triggers=[TOPIC],
    )
    bobs_job, _ = extraction_submit(
        user=other_user,
        messages=[
            {"role": "user", "content": f"Always run the {MARKER} checklist."},
            {"role": "assistant", "content": "Noted."},
        ],
        trigger=JobTrigger.PROXY_EXTRACT_NOW,
    )
    imported = bob.send(
        "post",
        f"{V1}/conversations/import",
        {"messages": [{"role": "user", "content": f"My {MARKER} checklist."}]},
    )
    assert imported.status_code == 202, imported.content
    alices_skill = make_skill(owner=user, title="Alice release notes")
    return World(
        kind=request.param,
        alice=_alice(request.param, user),
        bob=bob,
        bobs_skill=bobs_skill,
        bobs_job=bobs_job,
        bobs_import=imported.json()["id"],
        alices_skill=alices_skill,
    )


def _by_id_reads(w: World) -> dict[str, tuple[str, str, Any]]:
    skill, job = w.bobs_skill.pk, w.bobs_job.pk
    return {
        "skill": ("get", f"{V1}/skills/{skill}", None),
        "skill md": ("get", f"{V1}/skills/{skill}/md", None),
        "versions": ("get", f"{V1}/skills/{skill}/versions", None),
        "export md": ("get", f"{V1}/skills/{skill}/export?format=md", None),
        "export zip": ("get", f"{V1}/skills/{skill}/export?format=zip", None),
        "job": ("get", f"{V1}/extractions/{job}", None),
        "job events": ("get", f"{V1}/extractions/{job}/events?timeout_s=1", None),
        "import": ("get", f"{V1}/conversations/import/{w.bobs_import}", None),
    }


def _close(response: Any) -> None:
    """Close a response (the zip export streams a temporary file) as the test client
    does: without request_finished closing the test's database connection."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def _leaks(response: Any) -> bool:
    if getattr(response, "streaming", False):
        return False  # streams are never opened for A (asserted 404 below)
    return MARKER in response.content.decode("utf-8", "replace")


def _is_not_found(response: Any) -> bool:
    if response.status_code != 404 or getattr(response, "streaming", False):
        return False
    return response.json()["error"]["code"] == "not_found"


def test_reads_by_id_of_bobs_objects_are_404s(world):
    for name, (_, path, _) in _by_id_reads(world).items():
        response = world.alice.get(path)
        assert _is_not_found(response), (name, response.status_code)
        assert not _leaks(response), name


def test_bob_reads_the_same_ids(world):
    """The control: the paths above are real and answer their owner."""
    for name, (_, path, _) in _by_id_reads(world).items():
        if name == "job events":
            continue  # a stream; its owner case is tested in test_extraction_stream
        response = world.bob.get(path)
        _close(response)
        assert response.status_code == 200, (name, response.status_code)


def test_writes_to_bobs_skill_are_404s_and_change_nothing(world):
    skill = world.bobs_skill
    before = (skill.version_number, skill.content_hash, skill.title)
    md = (
        f"---\nname: taken\ndescription: Taken over by A.\n---\n\n# Taken\n\n{MARKER}\n"
    )
    responses = {
        "put md": world.alice.send(
            "put", f"{V1}/skills/{skill.pk}/md", {"skill_md": md}
        ),
        "rollback": world.alice.send(
            "post", f"{V1}/skills/{skill.pk}/rollback", {"to_number": 1}
        ),
        "delete": world.alice.send("delete", f"{V1}/skills/{skill.pk}"),
    }
    for name, response in responses.items():
        assert _is_not_found(response), (name, response.status_code)
    skill.refresh_from_db()
    assert (skill.version_number, skill.content_hash, skill.title) == before


def _search(caller: Caller, scope: str = "all") -> Any:
    payload = {"query": TOPIC, "scope": scope, "min_score": 0}
    return caller.send("post", f"{V1}/skills/search", payload)


def test_lists_and_searches_never_show_bobs_skills(world):
    bobs = str(world.bobs_skill.pk)
    for scope in ("user", "library", "all"):
        listed = world.alice.get(f"{V1}/skills", {"scope": scope, "status": "any"})
        assert listed.status_code == 200
        assert bobs not in [item["id"] for item in listed.json()["data"]]
        assert not _leaks(listed)
        if world.kind != "session":  # see test_search_accepts_a_session
            found = _search(world.alice, scope)
            assert found.status_code == 200
            assert bobs not in [hit["id"] for hit in found.json()["data"]]
            assert not _leaks(found), scope
    for path in (f"{V1}/extractions", f"{V1}/extractions/latest"):
        response = world.alice.get(path)
        assert response.status_code == 200
        assert str(world.bobs_job.pk) not in response.content.decode()
        assert not _leaks(response)
    # Control: Bob's own search finds it.
    assert bobs in [hit["id"] for hit in _search(world.bob).json()["data"]]


def test_search_accepts_a_session(client, user):
    client.force_login(user)
    response = client.post(
        f"{V1}/skills/search", {"query": TOPIC}, content_type="application/json"
    )
    assert response.status_code == 200


def test_retrieval_preview_never_retrieves_or_renders_bobs_skill(world):
    payload = {"messages": [{"role": "user", "content": TOPIC}], "min_score": 0}
    preview = world.alice.send("post", f"{V1}/retrieval/preview", payload)
    assert preview.status_code == 200
    assert not _leaks(preview)
    hits = [h["id"] for h in preview.json()["hits"]]
    # A sub-user is its own owner: not even the key owner's skills are its own.
    assert hits == ([] if world.kind == SUB_USER else [str(world.alices_skill.pk)])
    theirs = world.bob.send("post", f"{V1}/retrieval/preview", payload).json()
    assert MARKER in theirs["context"]


def test_extraction_never_uses_bobs_skill_as_identity_context(world):
    payload = {"messages": [{"role": "user", "content": f"Always {TOPIC}."}]}
    queued = world.alice.send("post", f"{V1}/extractions", payload)
    assert queued.status_code in (200, 202), queued.content
    job = ExtractionJob.objects.get(pk=queued.json()["data"]["job_id"])
    assert job.user_id != world.bobs_skill.owner_id
    assert MARKER not in json.dumps(job.reference or {})
    assert not _leaks(world.alice.get(f"{V1}/extractions/{job.pk}"))


def test_an_import_under_bobs_skill_name_creates_alices_own(world):
    md = f"---\nname: {world.bobs_skill.name}\ndescription: Alice's own.\n---\n\n# Mine\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("SKILL.md", md.encode(), content_type="text/markdown")
    response = world.alice.client.post(
        f"{V1}/skills/import", {"file": upload}, **world.alice.headers
    )
    assert response.status_code in (200, 201), response.content
    world.bobs_skill.refresh_from_db()
    assert world.bobs_skill.description.startswith("Run the")
    assert Skill.objects.filter(name=world.bobs_skill.name).count() == 2


def test_vectors_are_staff_only(world):
    for method, path in (("get", "vectors/status"), ("post", "vectors/rebuild")):
        response = world.alice.send(
            method, f"{V1}/{path}", {} if method == "post" else None
        )
        assert response.status_code == 403, (path, response.status_code)


@pytest.mark.django_db(transaction=True)
def test_chat_completion_never_injects_bobs_skill(user, other_user, upstream):
    """The upstream sees none of B's skill for A; for B the same turn carries it."""
    make_skill(
        owner=other_user,
        title=f"Bob {MARKER} checklist",
        instructions=f"# Goal\nAlways run the {MARKER} checklist.",
        triggers=[TOPIC],
    )
    make_skill(owner=user, title="Alice release notes")
    body = {"model": "fake-chat", "messages": [{"role": "user", "content": TOPIC}]}
    callers = {
        "alice": _bearer(api_key_create(owner=user).secret),
        "alice as 'bob'": _bearer(
            api_key_create(owner=user, can_act_for_users=True).secret,
            HTTP_X_AUTOSKILL_USER="bob",
        ),
        "bob": _bearer(api_key_create(owner=other_user).secret),
    }
    for name, headers in callers.items():
        response = Client().post(
            "/v1/chat/completions", body, content_type="application/json", **headers
        )
        assert response.status_code == 200, (name, response.content)
        sent = json.dumps(upstream.requests_to(CHAT)[-1].json)
        assert (MARKER in sent) is (name == "bob"), name
        if name != "bob":
            assert MARKER not in response.content.decode(), name


@pytest.mark.django_db(transaction=True)
async def test_streamed_chat_never_injects_bobs_skill(user, other_user, upstream):
    from asgiref.sync import sync_to_async

    await sync_to_async(make_skill)(
        owner=other_user, title=f"Bob {MARKER} checklist", triggers=[TOPIC]
    )
    key = await sync_to_async(api_key_create)(owner=user)
    response = await AsyncClient().post(
        "/v1/chat/completions",
        {
            "model": "fake-chat",
            "stream": True,
            "messages": [{"role": "user", "content": TOPIC}],
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {key.secret}"},
    )
    assert response.status_code == 200
    streamed = b"".join([chunk async for chunk in response.streaming_content])
    assert b"data: [DONE]" in streamed and MARKER.encode() not in streamed
    assert MARKER not in json.dumps(upstream.requests_to(CHAT)[-1].json)


@pytest.mark.django_db
def test_every_documented_operation_is_classified_here(client):
    """A new endpoint must be added to CLASSIFIED (and to the walk above)."""
    document = client.get("/v1/autoskill/openapi.json").json()
    documented = {
        (method, re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert documented == set(CLASSIFIED)
