"""AutoSkillClient against the real ASGI app served by uvicorn on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoskill import AutoSkillClient, AutoSkillError, Skill, SkillHit
from proxy.auth import api_key_create
from skills.models import Skill as SkillRow
from tests.proxy.api.extraction_fixtures import IMMEDIATE_TASKS
from tests.proxy.live_server import asgi_server  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Django serves the zip export's sync FileResponse under ASGI with this warning
    # (it works; the suite turns warnings into errors). See the report.
    pytest.mark.filterwarnings(
        "ignore:StreamingHttpResponse must consume synchronous iterators"
    ),
]

RELEASE = [
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
    {"role": "assistant", "content": "Understood."},
]
QUERY = "How should I do a safe release?"


@pytest.fixture(autouse=True)
def immediate(settings):
    # Jobs run when queued, so the client's wait returns on its first poll.
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def client(asgi_server, user):  # noqa: F811
    with AutoSkillClient(
        f"{asgi_server.url}/v1", api_key_create(owner=user).secret, poll_interval=0.05
    ) as sdk:
        yield sdk


def test_ingest_search_render_round_trip(client, user):
    learned = client.ingest(messages=RELEASE)

    assert [type(s) for s in learned] == [Skill]
    skill = learned[0]
    assert skill.id == str(SkillRow.objects.get(owner=user).pk)
    assert skill.user_id == "alice" and "regression" in skill.instructions.lower()
    hits = client.search(QUERY, limit=3)
    assert [(type(h), h.skill.id) for h in hits] == [(SkillHit, skill.id)]
    context = client.render_context(QUERY, limit=3)
    assert f"Query: {QUERY}" in context and skill.id in context
    assert client.get(skill.id) == skill
    assert [s.id for s in client.list()] == [skill.id]
    assert client.export_skill_md(skill.id).startswith("---")


def test_conversation_import_waits_and_reports(client, tmp_path: Path):
    report = client.import_openai_conversations(
        data=[{"messages": RELEASE}], hint="release steps"
    )
    assert (report["processed"], report["upserted_count"]) == (1, 1)
    assert report["total_conversations"] == 1

    path = tmp_path / "more.jsonl"
    french = [{"role": "user", "content": "Always answer me in French, briefly."}]
    path.write_text(json.dumps({"messages": french}) + "\n", encoding="utf-8")
    report = client.import_openai_conversations(file_path=path)
    assert report["processed"] == 1
    assert report["path"] == "more.jsonl"


def test_skill_folders_round_trip(client, tmp_path: Path, user):
    skill = client.ingest(messages=RELEASE)[0]
    files = client.export_skill_dir(skill.id)
    assert list(files) == ["SKILL.md"]

    dirs = client.write_skill_dirs(root_dir=tmp_path / "out")
    assert dirs == [str((tmp_path / "out" / skill.name).resolve())]
    assert client.delete(skill.id) is True
    assert client.get(skill.id) is None
    assert client.delete(skill.id) is False

    imported = client.import_agent_skill_dirs(root_dir=tmp_path / "out")
    assert [s.name for s in imported] == [skill.name]
    assert client.get(imported[0].id).instructions == skill.instructions


def test_errors_are_typed(client, asgi_server):  # noqa: F811
    with pytest.raises(AutoSkillError) as caught:
        client.search("release", scope="everything")
    assert caught.value.status == 400 and "scope" in caught.value.message
    with AutoSkillClient(asgi_server.url, "sk-wrong") as stranger:
        with pytest.raises(AutoSkillError) as caught:
            stranger.search("release")
    assert caught.value.status == 401
    with pytest.raises(ValueError):
        client.ingest(messages=[])


def test_a_service_key_acts_for_the_named_user(asgi_server, user):  # noqa: F811
    secret = api_key_create(owner=user, can_act_for_users=True).secret
    with AutoSkillClient(asgi_server.url, secret, user="case-1") as service:
        learned = service.ingest(messages=RELEASE)
        assert learned and learned[0].user_id != "alice"
        assert service.search(QUERY) and service.search(QUERY, user_id="case-2") == []
