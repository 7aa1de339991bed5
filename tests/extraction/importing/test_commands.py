"""import_conversations / import_trajectories: argument spellings, errors, report, exit status."""

from __future__ import annotations

import json
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save

from extraction.models import ExtractionJob
from skills.models import Skill

DATA = Path(__file__).parent / "data"
RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout."

pytestmark = pytest.mark.django_db


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def report_of(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("\n{") + 1 :])


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.json"
    path.write_text(
        json.dumps(
            {
                "conversations": [
                    {"messages": [{"role": "user", "content": RELEASE}]},
                    {
                        "messages": [
                            {"role": "user", "content": "thanks, have a nice day!"}
                        ]
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    return path


def test_import_conversations_learns_prints_and_writes_the_report(
    user, archive, tmp_path
):
    target = tmp_path / "out" / "report.json"
    stdout, _ = run(
        "import_conversations", str(archive), "--user", "alice", "--report", str(target)
    )

    report = report_of(stdout)
    assert report["processed"] == 2
    assert report["upserted_count"] == 1
    assert json.loads(target.read_text(encoding="utf-8")) == report
    assert (
        "archive.json: conversations=2 processed=2 skipped=0 failed=0 read_errors=0"
        in stdout
    )
    assert Skill.objects.filter(owner=user).count() == 1


def test_original_spellings_and_resume(user, archive):
    """--file, --user-id and --max-messages-per-conversation; a second run skips everything."""
    run(
        "import_conversations",
        "--file",
        str(archive),
        "--user-id",
        "alice",
        "--max-messages-per-conversation",
        "4",
    )
    stdout, _ = run("import_conversations", str(archive), "--user", "alice")

    report = report_of(stdout)
    assert (report["processed"], report["skipped"]) == (0, 2)
    assert report["skipped_reasons"] == {"duplicate": 2}


def test_dry_run_stores_nothing(user, archive):
    stdout, _ = run(
        "import_conversations", str(archive), "--user", "alice", "--dry-run"
    )
    assert report_of(stdout)["outcomes"] == {"simulated": 2}
    assert "(dry run: nothing stored)" in stdout
    assert not ExtractionJob.objects.exists()
    assert not Skill.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.json", "--user", "alice"], "does not exist"),
        (["--user", "alice"], "Give the file or directory"),
        (["{archive}", "--user", "nobody"], "No user named 'nobody'"),
        (["{archive}", "--user", "alice", "--concurrency", "0"], "must be 1 or more"),
        (
            ["{archive}", "--user", "alice", "--max-messages", "lots"],
            "expected a whole number",
        ),
        (["{archive}", "--user", "alice", "--max-messages", "-2"], "must be 0 or more"),
        (
            ["{archive}", "--user", "alice", "--continue-on-error", "maybe"],
            "expected 1 or 0",
        ),
        (
            ["{archive}", "--user", "alice", "--embeddings-provider", "psychic"],
            "Cannot use embeddings provider",
        ),
        (
            ["{archive}", "--user", "alice", "--llm-provider", "psychic"],
            "Cannot use that LLM",
        ),
        (
            ["{archive}", "--file", "/elsewhere.json", "--user", "alice"],
            "Give the path once",
        ),
    ],
)
def test_clear_errors(user, archive, args, message):
    args = [a.replace("{archive}", str(archive)) for a in args]
    with pytest.raises(CommandError, match=message):
        run("import_conversations", *args)
    assert not ExtractionJob.objects.exists()


def test_embeddings_provider_is_set_for_the_run_only(user, archive, settings):
    """--embeddings-provider applies while the command runs and is restored afterwards."""
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "hashing"
    seen = []

    def record(**kwargs):  # what the setting was while the run saved its jobs
        seen.append(django_settings.AUTOSKILL_EMBEDDINGS_PROVIDER)

    post_save.connect(record, sender=ExtractionJob, weak=False)
    try:
        run(
            "import_conversations",
            str(archive),
            "--user",
            "alice",
            "--embeddings-provider",
            "none",
        )
    finally:
        post_save.disconnect(record, sender=ExtractionJob)
    assert seen and set(seen) == {"none"}
    assert django_settings.AUTOSKILL_EMBEDDINGS_PROVIDER == "hashing"


def test_stop_on_error_exits_non_zero_after_reporting(user, archive, settings):
    settings.AUTOSKILL_EXTRACT_ENABLED = False
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="Stopped at the first error"):
        call_command(
            "import_conversations", str(archive), "--user", "alice", "--continue-on-error", "0",
            "--no-progress", stdout=out, stderr=err,
        )  # fmt: skip
    report = report_of(out.getvalue())
    assert (report["failed"], report["not_run"]) == (1, 1)
    assert "disabled" in err.getvalue()


def test_every_unit_failing_is_a_non_zero_exit(user, archive, settings):
    settings.AUTOSKILL_EXTRACT_ENABLED = False
    with pytest.raises(CommandError, match="Nothing was imported"):
        run("import_conversations", str(archive), "--user", "alice")


# -- trajectories ----------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    target = tmp_path / "traces"
    target.mkdir()
    shutil.copy(DATA / "trajectories" / "runs.json", target / "runs.json")
    shutil.copy(DATA / "trajectories" / "nightly-trace.md", target / "nightly-trace.md")
    return target


def test_import_trajectories_defaults_skip_failed_runs(user, runs):
    stdout, _ = run("import_trajectories", str(runs), "--user", "alice")
    report = report_of(stdout)
    assert report["kind"] == "trajectories"
    assert (report["total"], report["processed"]) == (4, 3)
    assert report["skipped_reasons"] == {"unsuccessful": 1}
    assert "runs.json: trajectories=3 processed=2 skipped=1 failed=0" in stdout
    assert not ExtractionJob.objects.filter(source__success=False).exists()


def test_success_only_and_tool_event_flags_take_values(user, runs):
    run(
        "import_trajectories",
        str(runs),
        "--user",
        "alice",
        "--success-only",
        "0",
        "--include-tool-events",
        "0",
    )
    assert ExtractionJob.objects.filter(source__success=False).count() == 1
    assert all(job.events == [] for job in ExtractionJob.objects.all())
    assert not any(
        m["role"] == "tool" for job in ExtractionJob.objects.all() for m in job.window
    )


def test_bare_flags_mean_yes(user, runs):
    stdout, _ = run(
        "import_trajectories",
        "--file",
        str(runs),
        "--user-id",
        "alice",
        "--success-only",
        "--include-tool-events",
        "--dry-run",
    )
    report = report_of(stdout)
    assert report["skipped_reasons"] == {"unsuccessful": 1}
    assert report["outcomes"] == {"simulated": 3}
