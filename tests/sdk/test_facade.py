"""The in-process facade on the test database (Django already configured by pytest)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from autoskill import AutoSkill, AutoSkillConfig, AutoSkillError, Skill, SkillHit
from skills.models import Skill as SkillRow

pytestmark = pytest.mark.django_db

RELEASE = [
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
    {"role": "assistant", "content": "Understood."},
]
QUERY = "How should I do a safe release?"


@pytest.fixture
def sdk() -> AutoSkill:
    return AutoSkill(AutoSkillConfig(llm={"provider": "mock"}))


def test_reuses_the_configured_django_and_round_trips(sdk):
    assert sdk.configured_django is False

    learned = sdk.ingest(user_id="u1", messages=RELEASE)

    assert [type(s) for s in learned] == [Skill]
    skill = learned[0]
    assert skill.user_id == "u1"
    assert "regression" in skill.instructions.lower()
    with pytest.raises(dataclasses.FrozenInstanceError):
        skill.name = "x"  # type: ignore[misc]
    hits = sdk.search(QUERY, user_id="u1", limit=3)
    assert [(type(h), h.skill.id) for h in hits] == [(SkillHit, skill.id)]
    assert 0.0 <= hits[0].score <= 1.0
    context = sdk.render_context(QUERY, user_id="u1", limit=3)
    assert f"Query: {QUERY}" in context
    assert skill.id in context and skill.name in context
    assert sdk.render_context(hits) == context.replace(f"Query: {QUERY}\n", "")
    # Another user sees nothing of u1's.
    assert sdk.search(QUERY, user_id="u2") == []
    assert sdk.render_context(QUERY, user_id="u2") == ""


def test_ingesting_the_same_window_again_returns_its_skill(sdk):
    first = sdk.ingest(user_id="u1", messages=RELEASE)
    again = sdk.ingest(user_id="u1", messages=RELEASE)
    assert [s.id for s in again] == [s.id for s in first]
    assert SkillRow.objects.count() == 1


def test_bad_input_raises_typed_errors(sdk):
    with pytest.raises(ValueError):
        sdk.ingest(user_id="u1")
    with pytest.raises(AutoSkillError) as caught:
        sdk.search("release", user_id="u1", scope="everything")
    assert (caught.value.status, caught.value.code) == (400, "invalid_input")
    with pytest.raises(AutoSkillError) as caught:
        sdk.search("   ", user_id="u1")
    assert caught.value.status == 400


def test_conversation_import_from_data_and_file(sdk, tmp_path: Path):
    data = [
        {"messages": RELEASE},
        {"messages": [{"role": "assistant", "content": "Only me talking."}]},
    ]
    report = sdk.import_openai_conversations(user_id="u1", data=data)
    assert report["total_conversations"] == 2
    assert (report["processed"], report["upserted_count"]) == (1, 1)
    assert report["skipped_reasons"] == {"empty": 1}

    path = tmp_path / "dialogues.jsonl"
    path.write_text(json.dumps({"messages": RELEASE}) + "\n", encoding="utf-8")
    report = sdk.import_openai_conversations(user_id="u3", file_path=str(path))
    assert (report["processed"], report["upserted_count"]) == (1, 1)
    assert report["source_file"] == str(path)
    assert [s.user_id for s in sdk.list(user_id="u3")] == ["u3"]
    with pytest.raises(AutoSkillError) as caught:
        sdk.import_openai_conversations(user_id="u1", file_path=tmp_path / "none")
    assert caught.value.status == 404


def test_get_list_delete(sdk, library):
    skill = sdk.ingest(user_id="u1", messages=RELEASE)[0]
    assert sdk.get(skill.id) == skill
    assert sdk.get("not-an-id") is None
    assert [s.id for s in sdk.list(user_id="u1")] == [skill.id]
    assert sdk.list(user_id="u2") == []
    assert sdk.export_skill_md(skill.id).startswith("---")
    assert sdk.delete(skill.id) is True
    assert sdk.get(skill.id) is None
    assert sdk.delete(skill.id) is False


def test_skill_folders_round_trip(sdk, tmp_path: Path):
    skill = sdk.ingest(user_id="u1", messages=RELEASE)[0]
    files = sdk.export_skill_dir(skill.id)
    assert "SKILL.md" in files and skill.name in files["SKILL.md"]

    dirs = sdk.write_skill_dirs(user_id="u1", root_dir=tmp_path / "out")
    assert dirs == [str((tmp_path / "out" / skill.name).resolve())]
    assert (Path(dirs[0]) / "SKILL.md").read_text(encoding="utf-8") == files["SKILL.md"]

    imported = sdk.import_agent_skill_dirs(root_dir=tmp_path / "out", user_id="u2")
    assert [(s.name, s.user_id) for s in imported] == [(skill.name, "u2")]
    assert imported[0].instructions == skill.instructions
    # Same tree again: the same ids (derived from user + path), nothing added.
    again = sdk.import_agent_skill_dirs(root_dir=tmp_path / "out", user_id="u2")
    assert [s.id for s in again] == [imported[0].id]
    assert SkillRow.objects.filter(owner__username="u2").count() == 1
    assert sdk.search(QUERY, user_id="u2")[0].skill.id == imported[0].id

    with pytest.raises(AutoSkillError) as caught:
        sdk.import_agent_skill_dirs(root_dir=tmp_path / "missing", user_id="u2")
    assert caught.value.status == 404


def test_config_from_dict_accepts_the_original_spellings(tmp_path: Path):
    config = AutoSkillConfig.from_dict(
        {
            "llm": {"provider": "mock"},
            "embedding": {"provider": "hashing", "dims": 64},
            "vector_store": {"provider": "local", "path": str(tmp_path / "Bank")},
            "dedupe_similarity_threshold": 0.4,
        }
    )
    assert config.embeddings["dims"] == 64
    assert config.extra == {"dedupe_similarity_threshold": 0.4}
    env = config.environment()
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'Bank.sqlite3'}"
    assert env["AUTOSKILL_STORE_DIR"] == str(tmp_path / "Bank")
    assert env["AUTOSKILL_LLM_PROVIDER"] == "mock"
    assert env["AUTOSKILL_EMBEDDINGS_DIMS"] == "64"
