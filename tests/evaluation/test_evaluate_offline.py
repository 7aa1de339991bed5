# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""`manage.py evaluate` end to end against the live app on the embedded default.

The offline provider answers chat, the immediate tasks backend runs extraction as soon
as a reply schedules it (the harness still polls the job over HTTP), and the offline
rules play simulator and judge, so the whole loop is deterministic.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.harness.runner import scenarios_load
from evaluation.models import EvaluationRun
from proxy.auth import api_key_create
from skills.models import Skill
from tests.proxy.live_server import asgi_server  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "extraction", "audit"],
    }
}
SCENARIOS = ["release-steps-en", "weekly-report-zh", "neg-story-about-other-en",
             "neg-small-talk-zh"]  # fmt: skip


@pytest.fixture
def offline_site(settings):
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    settings.AUTOSKILL_REWRITE_MODE = "never"
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def service_key(user) -> str:
    return api_key_create(owner=user, can_act_for_users=True).secret


def _evaluate(server, key: str, path, *extra: str) -> dict:
    args = ["--base-url", server.url, "--api-key", key, "--seed", "7",
            "--report-json", str(path), "--extraction-timeout-s", "20",
            "--poll-interval-s", "0.05"]  # fmt: skip
    for scenario in SCENARIOS:
        args += ["--scenario", scenario]
    call_command("evaluate", *args, *extra)
    return json.loads(path.read_text(encoding="utf-8"))


def _stable(report: dict) -> list:
    """What must not change between two runs with the same seed."""
    return [
        report["evaluation"]["summary"]["metrics"],
        [(c["scenario"]["id"], c["scores"], c["success"], len(c["evolution"]["skill_ids"]))
         for c in report["evaluation"]["cases"]],
    ]  # fmt: skip


def test_offline_evaluation_learns_positives_only_and_is_deterministic(
    asgi_server, offline_site, service_key, tmp_path
):
    """Positives learn a skill that is retrieved and lifts the score; negatives learn nothing."""
    # when
    first = _evaluate(asgi_server, service_key, tmp_path / "a.json", "--save")
    second = _evaluate(asgi_server, service_key, tmp_path / "b.json", "--stream")
    # then
    summary = first["evaluation"]["summary"]
    metrics = summary["metrics"]
    assert summary["ok_cases"] == len(SCENARIOS), first["evaluation"]["case_analysis"]
    assert metrics["extraction_rate_positive"] == 1.0
    assert metrics["negatives_with_skills"] == 0
    assert metrics["extraction_precision"] == 1.0
    assert metrics["sr_after"] >= metrics["sr_before"]
    assert metrics["sr_after"] > 0 and metrics["sr_before"] == 0
    assert metrics["retrieval_hit_rate"] is not None
    assert _stable(first) == _stable(second)  # also: streaming reads the same fields
    cases = {c["scenario"]["id"]: c for c in first["evaluation"]["cases"]}
    learned = cases["release-steps-en"]["evolution"]["skill_ids"]
    skill = Skill.objects.get(pk=learned[0])
    assert skill.owner.external_id == cases["release-steps-en"]["users"]["evolved_user"]
    assert first["meta"]["eval_strategy"] == "evolution"
    assert (tmp_path / "a_analysis.jsonl").read_text().count("\n") == len(SCENARIOS)
    run = EvaluationRun.objects.get()
    assert run.total_cases == len(SCENARIOS) and run.sr_after == metrics["sr_after"]


def test_scenario_bank_has_both_languages_and_enough_negatives():
    bank = scenarios_load()
    assert len(bank) >= 12
    assert {s["lang"] for s in bank} == {"en", "zh"}
    assert sum(not s["expect_extract"] for s in bank) >= 4
    assert len({s["id"] for s in bank}) == len(bank)


def test_help_lists_ours_and_the_originals_flags(capsys):
    with pytest.raises(SystemExit):
        call_command("evaluate", "--help")
    out = capsys.readouterr().out
    for flag in ("--base-url", "--runs", "--eval-runs", "--eval-seed", "--eval-stream",
                 "--sim-provider", "--judge-model", "--report-json", "--save"):  # fmt: skip
        assert flag in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs", "0"], "--runs must be > 0"),
        (["--runs", "many"], "--runs must be a number"),
        (["--scenario", "nope"], "Unknown scenario id(s): nope"),
        (["--judge-success-threshold", "150"], "between 0 and 100"),
        (["--eval-strategy", "other"], "invalid choice"),
    ],
)
def test_bad_flags_are_clear_errors(args, message):
    with pytest.raises(
        CommandError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        call_command("evaluate", "--base-url", "http://127.0.0.1:9", *args)


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(
        CommandError, match="Could not reach the server at http://127.0.0.1:9"
    ):
        call_command("evaluate", "--base-url", "http://127.0.0.1:9", "--runs", "1",
                     "--report-json", str(tmp_path / "r.json"))  # fmt: skip
