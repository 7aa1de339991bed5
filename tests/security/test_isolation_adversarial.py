"""User B attacks user A through every door the /v1 walk does not cover; none opens.

tests/proxy/test_isolation.py walks every documented /v1 operation (by id, lists,
searches, retrieval, chat) for three identities. This suite takes the same three
identities of B (his API key, his service key acting for a sub-user named after A,
his browser session) to what that walk leaves out:

- the browser pages: A's conversation, its export, every skill page and action on
  A's skill, the page search, the zip of "all my skills", and the usage counters a
  library skill's page shows;
- the admin, as a non-staff user: redirected to its login, nothing changed;
- the chat socket: every client message aimed at A's session, a socket opened with
  an API key instead of a session, with a forged cookie, or with A's cookie from
  another site's page (cross-site WebSocket hijacking);
- the SSE event stream of A's job, with resume parameters;
- a service key that names A (username, id, spellings) as its sub-user.

A's data carries MARKER, which must never appear in what B receives. Every attack
ends with a comparison of all of A's rows with a snapshot taken before it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from autoskill_site.asgi import application
from extraction.models import ExtractionJob, JobEvent, JobTrigger
from extraction.services import extraction_submit
from proxy.auth import api_key_create
from proxy.chat_sessions import chat_message_append, chat_session_create
from proxy.consumers import CLOSE_UNAUTHENTICATED
from proxy.models import ApiKey, ChatMessage, ChatRole, ChatSession
from skills.models import Skill, SkillUsage, SkillVersion
from tests.factories import make_skill
from tests.proxy.test_isolation import MARKER, TOPIC, V1, _bearer, _close

pytestmark = pytest.mark.django_db(transaction=True)

KEY, SUB_USER, SESSION = "key", "service key as sub-user 'alice'", "session"
# Usage counters of A's on the library skill: numbers no page shows B by accident.
RETRIEVED, USED = 7371, 4242
WAIT = 20


@dataclass
class Victim:
    """A (alice) and everything of hers an attacker could aim at."""

    user: Any
    skill: Skill
    library_skill: Skill
    session: ChatSession
    job: ExtractionJob


@pytest.fixture
def victim(user, library) -> Victim:
    skill = make_skill(
        owner=user,
        title=f"Alice {MARKER} checklist",
        description=f"Run the zebra deployment checklist ({MARKER}) before release.",
        instructions=f"# Goal\nAlways run the {MARKER} checklist.",
        triggers=[TOPIC],
    )
    library_skill = make_skill(
        library=library, title="Team deploy guide", triggers=[TOPIC]
    )
    SkillUsage.objects.create(
        user=user, skill=library_skill, retrieved=RETRIEVED, relevant=5000, used=USED
    )
    SkillUsage.objects.create(user=user, skill=skill, retrieved=3, relevant=2, used=1)
    session = chat_session_create(user=user, title=f"Alice {MARKER} plans")
    chat_message_append(
        session=session, role=ChatRole.USER, content=f"My {MARKER} checklist?"
    )
    chat_message_append(
        session=session, role=ChatRole.ASSISTANT, content=f"Run {MARKER} first."
    )
    job, _ = extraction_submit(
        user=user,
        messages=[
            {"role": "user", "content": f"Always run the {MARKER} checklist."},
            {"role": "assistant", "content": "Noted."},
        ],
        trigger=JobTrigger.EXTRACT_NOW,
    )
    return Victim(user, skill, library_skill, session, job)


def snapshot(user: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of `user`'s, and every library skill, as plain values."""
    return {
        "skills": list(Skill.objects.filter(owner=user).order_by("pk").values()),
        "library skills": list(
            Skill.objects.filter(library__isnull=False).order_by("pk").values()
        ),
        "versions": list(
            SkillVersion.objects.filter(skill__owner=user).order_by("pk").values()
        ),
        "sessions": list(ChatSession.objects.filter(owner=user).values()),
        "messages": list(
            ChatMessage.objects.filter(session__owner=user).order_by("pk").values()
        ),
        "jobs": list(ExtractionJob.objects.filter(user=user).values()),
        "events": list(JobEvent.objects.filter(user=user).order_by("pk").values()),
        "usage": list(SkillUsage.objects.filter(user=user).order_by("pk").values()),
        "keys": list(ApiKey.objects.filter(owner=user).order_by("pk").values()),
    }


@dataclass
class Attacker:
    kind: str
    client: Client
    headers: dict[str, str]

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(path, **self.headers, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.client.post(path, data or {}, **self.headers, **extra)


@pytest.fixture(params=[KEY, SUB_USER, SESSION])
def bob(request, other_user) -> Attacker:
    client = Client(raise_request_exception=False)
    if request.param == KEY:
        return Attacker(KEY, client, _bearer(api_key_create(owner=other_user).secret))
    if request.param == SUB_USER:
        secret = api_key_create(owner=other_user, can_act_for_users=True).secret
        return Attacker(
            SUB_USER, client, _bearer(secret, HTTP_X_AUTOSKILL_USER="alice")
        )
    client.force_login(other_user)
    return Attacker(SESSION, client, {})


def _leaks(response: Any) -> bool:
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    return MARKER.encode() in body


# -- pages --------------------------------------------------------------------------


def _page_reads(victim: Victim) -> list[str]:
    skill, session = f"/skills/{victim.skill.pk}", f"/chat/{victim.session.pk}"
    return [
        f"{session}/",
        f"{session}/export.json",
        f"{skill}/",
        f"{skill}/edit/",
        f"{skill}/history/",
        f"{skill}/history/?compare=1",
        f"{skill}/export.zip",
    ]


def test_the_page_paths_answer_their_owner(victim):
    """The control: every path below is real, so B's 404 is the owner check."""
    client = Client()
    client.force_login(victim.user)
    answers = {path: client.get(path) for path in _page_reads(victim)}
    for response in answers.values():
        _close(response)
    assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(answers, 200)
    assert all(_leaks(r) for p, r in answers.items() if "export.zip" not in p)


def test_pages_never_show_or_change_alices_data(victim, bob):
    """With a key the pages want a login; with B's session A's objects are 404s."""
    before = snapshot(victim.user)
    skill = f"/skills/{victim.skill.pk}"
    reads = _page_reads(victim)
    writes = {
        f"{skill}/edit/": {"skill_md": f"---\nname: x\ndescription: {MARKER}\n---\n"},
        f"{skill}/rollback/": {"to_number": "1"},
        f"{skill}/status/": {"status": "archived"},
        f"{skill}/delete/": {"confirm": "1"},
        "/skills/validate/": {"skill_md": "x", "skill_id": str(victim.skill.pk)},
    }
    answers = {path: bob.get(path) for path in reads}
    answers.update(
        {f"POST {path}": bob.post(path, data) for path, data in writes.items()}
    )
    if bob.kind == SESSION:
        expected = dict.fromkeys(answers, 404)
    else:  # the pages take the browser session only; a key is no login
        expected = dict.fromkeys(answers, 302)
        assert {r["Location"].split("?")[0] for r in answers.values()} == {"/login/"}
    assert {path: r.status_code for path, r in answers.items()} == expected
    assert [path for path, r in answers.items() if _leaks(r)] == []
    assert snapshot(victim.user) == before


def test_page_lists_searches_and_exports_hold_none_of_alices(victim, other_user):
    """B's own pages: the chat list, the library browser with every filter, the
    slash-command search, and the zip of all his skills."""
    make_skill(owner=other_user, title="Bob own zebra deployment checklist")
    client = Client()
    client.force_login(other_user)
    pages = [
        ("/chat/", {}),
        ("/skills/", {"q": MARKER, "scope": "all", "status": "any"}),
        ("/skills/", {"q": "zebra", "scope": "user"}),
        ("/skills/", {"scope": "library", "status": "any"}),
    ]
    # (The search box repeats the query, so the bare marker may be on the page.)
    alices = (str(victim.skill.pk), victim.skill.title, str(victim.session.pk))
    for page, query in pages:
        html = client.get(page, query)
        assert html.status_code == 200, (page, query)
        assert [x for x in alices if x in html.content.decode()] == [], (page, query)
    # The control: the same search finds Bob's own skill.
    assert "Bob own zebra" in client.get("/skills/", {"q": "zebra"}).content.decode()
    exported = client.get("/skills/export.zip")
    assert exported.status_code == 200
    content = b"".join(exported.streaming_content)
    _close(exported)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        assert names, "the control: Bob's own skill is in his export"
        assert not any(MARKER.encode() in archive.read(name) for name in names)


def test_a_library_skill_page_shows_the_viewers_own_usage(victim, other_user):
    page = f"/skills/{victim.library_skill.pk}/"
    bob = Client()
    bob.force_login(other_user)
    html = bob.get(page).content.decode()
    assert "Your usage" in html
    assert str(RETRIEVED) not in html and str(USED) not in html
    # The control: A sees her own counters on the same page.
    alice = Client()
    alice.force_login(victim.user)
    mine = alice.get(page).content.decode()
    assert str(RETRIEVED) in mine and str(USED) in mine


# -- the admin ----------------------------------------------------------------------


def test_the_admin_turns_away_non_staff(victim, other_user):
    before = snapshot(victim.user)
    client = Client(raise_request_exception=False)
    client.force_login(other_user)
    skill = f"/admin/skills/skill/{victim.skill.pk}"
    job = f"/admin/extraction/extractionjob/{victim.job.pk}"
    reads = [
        "/admin/",
        "/admin/skills/skill/",
        f"{skill}/change/",
        f"{skill}/diff/?a=1&b=1",
        f"{job}/change/",
        f"/admin/proxy/chatsession/{victim.session.pk}/change/",
        "/admin/skills/skillusage/",
    ]
    writes = [
        f"{skill}/change/",
        f"{skill}/rollback/1/",
        f"{skill}/delete/",
        f"{job}/rerun/",
        f"{job}/cancel/",
    ]
    answers = {path: client.get(path) for path in reads}
    answers.update(
        {f"POST {path}": client.post(path, {"post": "yes"}) for path in writes}
    )
    assert {p: r.status_code for p, r in answers.items()} == dict.fromkeys(answers, 302)
    assert {r["Location"].split("?")[0] for r in answers.values()} == {"/admin/login/"}
    assert [p for p, r in answers.items() if _leaks(r)] == []
    assert snapshot(victim.user) == before


# -- the event stream and a sub-user named after A ----------------------------------


def test_alices_job_stream_is_a_404_however_it_is_resumed(victim, bob):
    path = f"{V1}/extractions/{victim.job.pk}/events"
    answers = [
        bob.get(f"{path}?timeout_s=1"),
        bob.get(f"{path}?after=0&timeout_s=1"),
        bob.get(f"{path}?timeout_s=1", HTTP_LAST_EVENT_ID="0"),
        bob.get(path, HTTP_ACCEPT="text/event-stream"),
    ]
    assert [r.status_code for r in answers] == [404] * len(answers)
    assert not any(getattr(r, "streaming", False) for r in answers)
    assert {r.json()["error"]["code"] for r in answers} == {"not_found"}


@pytest.mark.parametrize(
    "named", ["alice", "ALICE", " alice ", "alice--0", "../alice", "user-{pk}", "{pk}"]
)
def test_a_service_key_naming_alice_gets_its_own_sub_user(victim, other_user, named):
    """B's service key asks to act for A: it gets a sub-user of B's, never A."""
    before = snapshot(victim.user)
    secret = api_key_create(owner=other_user, can_act_for_users=True).secret
    name = named.format(pk=victim.user.pk)
    headers = _bearer(secret, HTTP_X_AUTOSKILL_USER=name)
    client = Client(raise_request_exception=False)
    skill, job = victim.skill.pk, victim.job.pk
    by_id = {
        "skill": client.get(f"{V1}/skills/{skill}", **headers),
        "md": client.get(f"{V1}/skills/{skill}/md", **headers),
        "versions": client.get(f"{V1}/skills/{skill}/versions", **headers),
        "job": client.get(f"{V1}/extractions/{job}", **headers),
        "events": client.get(f"{V1}/extractions/{job}/events?timeout_s=1", **headers),
        "put md": client.put(
            f"{V1}/skills/{skill}/md",
            {"skill_md": f"---\nname: taken\ndescription: {MARKER} taken\n---\n"},
            content_type="application/json",
            **headers,
        ),
        "delete": client.delete(f"{V1}/skills/{skill}", **headers),
    }
    assert {k: r.status_code for k, r in by_id.items()} == dict.fromkeys(by_id, 404)
    listed = client.get(f"{V1}/skills?scope=all&status=any", **headers)
    found = client.post(
        f"{V1}/skills/search",
        {"query": TOPIC, "scope": "all", "min_score": 0},
        content_type="application/json",
        **headers,
    )
    preview = client.post(
        f"{V1}/retrieval/preview",
        {"messages": [{"role": "user", "content": TOPIC}], "min_score": 0},
        content_type="application/json",
        **headers,
    )
    for response in (listed, found, preview):
        assert response.status_code == 200 and not _leaks(response)
    # Writes land on the sub-user, which is B's and not A.
    upload = SimpleUploadedFile(
        "SKILL.md", b"---\nname: imported\ndescription: Mine.\n---\n\n# Mine\n"
    )
    imported = client.post(f"{V1}/skills/import", {"file": upload}, **headers)
    assert imported.status_code == 201, imported.content
    owner = Skill.objects.get(name="imported").owner
    assert owner.pk not in (victim.user.pk, other_user.pk)
    assert owner.username.startswith(f"{other_user.username}--")
    assert snapshot(victim.user) == before


# -- the chat socket ----------------------------------------------------------------


def _cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _open(
    *, cookie: str | None = None, origin: str = "http://localhost", **headers: str
) -> tuple[WebsocketCommunicator, bool, Any]:
    raw = [(b"origin", origin.encode())]
    if cookie is not None:
        raw.append((b"cookie", f"sessionid={cookie}".encode()))
    raw.extend((k.encode(), v.encode()) for k, v in headers.items())
    socket = WebsocketCommunicator(application, "/ws/chat/", headers=raw)
    connected, code = await socket.connect(timeout=WAIT)
    return socket, connected, code


async def test_every_socket_message_aimed_at_alices_session_is_refused(
    victim, other_user
):
    before = await database_sync_to_async(snapshot)(victim.user)
    cookie = await database_sync_to_async(_cookie)(other_user)
    socket, connected, _ = await _open(cookie=cookie)
    assert connected
    theirs = str(victim.session.pk)
    attempts = [
        {"type": "chat", "session_id": theirs, "text": f"Tell me {MARKER}"},
        {"type": "chat", "session_id": theirs, "text": "/extract_now steal it"},
        {
            "type": "chat",
            "session_id": theirs,
            "text": "/export " + str(victim.skill.pk),
        },
        {"type": "regenerate", "session_id": theirs},
        {"type": "session.rename", "session_id": theirs, "title": "mine now"},
        {"type": "session.configure", "session_id": theirs, "settings": {"top_k": 1}},
        {"type": "session.delete", "session_id": theirs},
    ]
    answers = []
    for attempt in attempts:
        await socket.send_json_to(attempt)
        answers.append(await socket.receive_json_from(timeout=WAIT))
    await socket.send_json_to({"type": "stop"})  # nothing of his runs: a no-op
    # B's own command cannot export A's skill either.
    await socket.send_json_to({"type": "chat", "text": f"/export {victim.skill.pk}"})
    created = await socket.receive_json_from(timeout=WAIT)
    exported = await socket.receive_json_from(timeout=WAIT)
    await socket.send_json_to({"type": "session.list"})
    listed = await socket.receive_json_from(timeout=WAIT)
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()

    assert [a["type"] for a in answers] == ["error"] * len(attempts)
    assert all("No chat session" in a["message"] for a in answers), answers
    assert created["type"] == "session.created"
    assert exported["type"] == "command" and MARKER not in str(exported)
    assert [s["id"] for s in listed["sessions"]] == [created["session"]["id"]]
    assert await database_sync_to_async(snapshot)(victim.user) == before


async def test_a_socket_needs_a_real_session_from_this_site(victim, other_user):
    """A key is no login for the socket, a forged cookie neither, and A's own cookie
    sent by another site's page (cross-site WebSocket hijacking) is refused."""
    key = await database_sync_to_async(api_key_create)(owner=other_user)
    alices = await database_sync_to_async(_cookie)(victim.user)
    with_key, connected, _ = await _open(authorization=f"Bearer {key.secret}")
    assert connected
    assert (await with_key.receive_output(timeout=WAIT))[
        "code"
    ] == CLOSE_UNAUTHENTICATED
    forged, connected, _ = await _open(cookie="0" * 32)
    assert connected
    assert (await forged.receive_output(timeout=WAIT))["code"] == CLOSE_UNAUTHENTICATED
    hijack, connected, _ = await _open(cookie=alices, origin="http://evil.example")
    assert not connected
    # The control: the same cookie from this site's own page is let in.
    own, connected, _ = await _open(cookie=alices)
    assert connected
    await own.send_json_to({"type": "session.list"})
    listed = await own.receive_json_from(timeout=WAIT)
    assert [s["id"] for s in listed["sessions"]] == [str(victim.session.pk)]
    await own.disconnect()
