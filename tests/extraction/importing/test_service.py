"""Import services end to end with the offline provider (the test settings' default LLM)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autoskill_site.exceptions import InvalidInput, NotFound
from extraction.importing.service import import_conversations, import_trajectories
from extraction.models import ExtractionJob
from skills.models import Skill

DATA = Path(__file__).parent / "data"
RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."


def _conversation(user_text: str, reply: str = "Got it.") -> list[dict[str, str]]:
    return [
        {"role": "user", "content": user_text},
        {"role": "assistant", "content": reply},
    ]


def _write_jsonl(path: Path, *values) -> Path:
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    return path


@pytest.fixture
def release_file(tmp_path: Path) -> Path:
    return _write_jsonl(
        tmp_path / "chats.jsonl",
        {"messages": _conversation(RELEASE, "Understood, that order every time.")},
        {"messages": _conversation("thanks, have a nice day!")},
    )


@pytest.mark.django_db
def test_release_conversation_creates_a_skill_and_a_rerun_resumes(user, release_file):
    """The release procedure becomes a skill; running the import again extracts nothing twice."""
    events = []
    report = import_conversations(user=user, path=release_file, progress=events.append)

    assert (report["total"], report["processed"], report["failed"]) == (2, 2, 0)
    assert report["outcomes"] == {"added": 1, "no_candidate": 1}
    assert report["upserted_count"] == 1
    skill = Skill.objects.get(owner=user)
    assert report["skills"] == [
        {"id": str(skill.pk), "name": skill.name, "version": skill.version}
    ]
    assert "canary" in skill.instructions.lower()
    assert [e["status"] for e in events] == ["processed", "processed"]
    assert events[-1]["index"] == events[-1]["total"] == 2
    file = str(release_file.resolve())
    assert report["per_file"] == {
        file: {"units": 2, "processed": 2, "failed": 0, "skipped": 0, "read_errors": 0}
    }

    again = import_conversations(user=user, path=release_file)

    assert (again["processed"], again["skipped"]) == (0, 2)
    assert again["skipped_reasons"] == {"duplicate": 2}
    assert Skill.objects.filter(owner=user).count() == 1
    assert ExtractionJob.objects.filter(user=user).count() == 2


@pytest.mark.django_db
def test_messages_reach_extraction_as_messages_with_provenance(user, release_file):
    """The transcript is not collapsed into one user turn, and a missing hint stays empty."""
    import_conversations(user=user, path=release_file, max_messages=0)

    job = ExtractionJob.objects.get(source__index=0)
    assert [m["role"] for m in job.window] == ["user", "assistant"]
    assert job.window[0]["content"] == RELEASE
    assert job.trigger == "import_conversation"
    assert job.hint == ""
    assert job.source == {
        "kind": "conversation",
        "file": str(release_file.resolve()),
        "index": 0,
        "title": "chats.jsonl#conv_1",
        "line": 1,
    }


@pytest.mark.django_db
def test_hint_and_max_messages_are_passed_on(user, tmp_path):
    path = _write_jsonl(
        tmp_path / "one.jsonl",
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                *_conversation(RELEASE),
            ]
        },
    )
    import_conversations(
        user=user, path=path, hint="  release process ", max_messages=2
    )

    job = ExtractionJob.objects.get()
    assert job.hint == "release process"
    assert [m["role"] for m in job.window] == ["user", "assistant"]


@pytest.mark.django_db
def test_dry_run_stores_nothing(user, release_file):
    report = import_conversations(user=user, path=release_file, dry_run=True)

    assert report["dry_run"] is True
    assert report["outcomes"] == {"simulated": 2}
    assert report["processed"] == 2
    assert not ExtractionJob.objects.exists()
    assert not Skill.objects.exists()


@pytest.mark.django_db
def test_bad_line_is_reported_and_the_rest_imported(user, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"messages": _conversation(RELEASE)}) + "\n{oops\n", encoding="utf-8"
    )
    report = import_conversations(user=user, path=path)

    assert report["processed"] == 1
    assert report["read_errors"] == 1
    [error] = report["errors"]
    assert (error["line"], error["file"]) == (2, str(path.resolve()))


@pytest.mark.django_db
def test_stop_on_first_read_error_schedules_nothing(user, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"messages": _conversation(RELEASE)}) + "\n{oops\n", encoding="utf-8"
    )
    report = import_conversations(user=user, path=path, continue_on_error=False)

    assert report["stopped"] is True
    assert (report["processed"], report["not_run"]) == (0, 1)
    assert not ExtractionJob.objects.exists()


@pytest.mark.django_db
def test_failures_are_counted_and_stop_when_asked(user, release_file, settings):
    """A unit whose extraction raises is a failure; continue_on_error=False stops there."""
    settings.AUTOSKILL_EXTRACT_ENABLED = False  # extraction_ingest refuses every unit

    going_on = import_conversations(user=user, path=release_file)
    stopped = import_conversations(
        user=user, path=release_file, continue_on_error=False
    )

    assert (going_on["failed"], going_on["stopped"]) == (2, False)
    assert going_on["outcomes"] == {"error": 2}
    assert "disabled" in going_on["errors"][0]["error"]
    assert going_on["errors"][0]["index"] == 0
    assert (stopped["failed"], stopped["not_run"], stopped["stopped"]) == (1, 1, True)


@pytest.mark.django_db
def test_conversation_without_user_turn_is_skipped_as_empty(user, tmp_path):
    path = _write_jsonl(
        tmp_path / "bot.jsonl",
        {"messages": [{"role": "assistant", "content": "I am a bot monologue."}]},
    )
    report = import_conversations(user=user, path=path)
    assert report["skipped_reasons"] == {"empty": 1}
    assert not ExtractionJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_process_every_unit(user, tmp_path):
    """Four workers; every conversation is extracted exactly once."""
    path = _write_jsonl(
        tmp_path / "many.jsonl",
        *[{"messages": _conversation(f"Topic {n}: thanks, bye")} for n in range(6)],
        {"messages": _conversation(RELEASE)},
    )
    report = import_conversations(user=user, path=path, concurrency=4)

    assert (report["processed"], report["failed"]) == (7, 0), report["errors"]
    assert ExtractionJob.objects.filter(user=user).count() == 7
    assert report["outcomes"].get("added") == 1


@pytest.mark.django_db
def test_bad_arguments_raise():
    with pytest.raises(NotFound):
        import_conversations(user=None, path="/nonexistent/archive.json")
    with pytest.raises(InvalidInput):
        import_conversations(user=None, path=DATA, concurrency=0)
    with pytest.raises(InvalidInput):
        import_conversations(user=None, path=DATA, max_messages=-1)


# -- trajectories ----------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    target = tmp_path / "runs.json"
    shutil.copy(DATA / "trajectories" / "runs.json", target)
    return target


@pytest.mark.django_db
def test_success_only_skips_failed_runs(user, runs):
    """run-2 timed out: skipped with success_only, extracted without it."""
    only = import_trajectories(user=user, path=runs, success_only=True)

    assert only["total"] == 3
    assert only["skipped_reasons"] == {"unsuccessful": 1}
    assert only["processed"] == 2
    titles = set(ExtractionJob.objects.values_list("source__title", flat=True))
    assert titles == {"runs.json#traj_1", "runs.json#traj_3"}

    every = import_trajectories(user=user, path=runs, success_only=False)

    assert every["skipped_reasons"] == {"duplicate": 2}
    assert every["processed"] == 1
    failed_run = ExtractionJob.objects.get(source__title="runs.json#traj_2")
    assert failed_run.trigger == "import_trajectory"
    assert failed_run.source["success"] is False
    assert [e["event_type"] for e in failed_run.events] == ["step"]


@pytest.mark.django_db
def test_include_tool_events_controls_what_reaches_extraction(user, runs):
    import_trajectories(user=user, path=runs, include_tool_events=True)
    with_tools = ExtractionJob.objects.get(source__title="runs.json#traj_1")
    assert [e["event_type"] for e in with_tools.events] == ["event", "event"]
    assert "tool" in [m["role"] for m in with_tools.window]
    ExtractionJob.objects.all().delete()

    import_trajectories(user=user, path=runs, include_tool_events=False)
    without = ExtractionJob.objects.get(source__title="runs.json#traj_1")
    assert without.events == []
    assert [m["role"] for m in without.window] == ["system", "user", "assistant"]
    assert without.source["has_events"] is False


@pytest.mark.django_db
def test_markdown_trace_and_directory_import(user):
    report = import_trajectories(user=user, path=DATA / "trajectories", dry_run=True)

    per_file = {Path(f).name: counts for f, counts in report["per_file"].items()}
    assert per_file["nightly-trace.md"]["processed"] == 1
    assert per_file["agent.jsonl"] == {
        "units": 3,
        "processed": 2,  # the steps-only record still carries tool events
        "failed": 0,
        "skipped": 1,  # task_success: false
        "read_errors": 1,
    }
    assert report["skipped_reasons"] == {"unsuccessful": 2}
    assert report["outcomes"] == {"simulated": report["processed"]}
    assert not ExtractionJob.objects.exists()
