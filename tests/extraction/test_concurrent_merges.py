"""Fifty extraction jobs merge into one skill at once, on PostgreSQL: nothing is lost.

Each job runs the worker's own path (`extraction_ingest`: a job row, claimed, run,
rescheduled and re-run after a transient failure) in its own thread, so each has
its own database connection. A real OpenAI-compatible client talks to the fake
model on loopback, which answers every extraction with the existing skill's name
and description (so the identity fast path picks it as the merge target) plus one
trigger of that job's own, and answers every merge call with text that is not
JSON (so the deterministic merge runs). The model is never called under a lock,
so the merges really do race between their read and their compare-and-set write.

Afterwards: version numbers 1..51 without gaps or duplicates, every one of the
fifty triggers in the skill (no lost update), still exactly one skill, and every
job completed as a merge. SQLite serialises writers on one lock, so the race is
only real on PostgreSQL; the SQLite pass skips with that reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from extraction.models import ExtractionJob, JobStatus, JobTrigger
from extraction.prompts import EXTRACT_SYSTEM
from extraction.services import extraction_ingest
from skills.models import Skill, SkillVersion
from tests.concurrency import race
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT, Recorded, Reply, Scripted

JOBS = 50
STEP = re.compile(r"deploy step (\d+)")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL: SQLite serialises every writer, so merges never race",
    ),
]


@pytest.fixture
def skill(user) -> Skill:
    return make_skill(
        owner=user,
        name="deploy-checklist",
        title="Deploy checklist",
        description="Runs the team's deploy checklist before every production deploy.",
        instructions="# Goal\nDeploy safely.\n\n# Workflow\n1. Tests\n2. Canary",
        triggers=["deploy checklist"],
        tags=["deploy"],
    )


@pytest.fixture
def model(fake_openai, skill) -> Any:
    """The fake model: extraction names the skill and the job's own trigger."""

    def answer(request: Recorded, scripted: Scripted | None) -> Reply:
        messages = (request.json or {}).get("messages") or []
        system = messages[0]["content"] if messages else ""
        if system != EXTRACT_SYSTEM:
            # The LLM merge: an unusable answer, so the deterministic merge is used.
            return fake_openai._chat(request, Scripted(text="no merge today"))
        step = STEP.search(json.dumps(messages)).group(1)
        candidate = {
            "name": skill.name,
            "description": skill.description,
            "instructions": skill.instructions,
            "triggers": [f"deploy step {step}"],
            "tags": ["deploy"],
            "confidence": 0.7,
        }
        text = json.dumps({"skills": [candidate]})
        return fake_openai._chat(request, Scripted(text=text))

    fake_openai.route(CHAT, answer)
    return fake_openai


def _llm(base_url: str) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(
        base_url=base_url,
        model="fake-extractor",
        provider="generic",
        timeout=30.0,
        retries=2,
        backoff=0.01,
        max_backoff=0.05,
    )


def test_fifty_concurrent_merges_lose_nothing(settings, user, skill, model):
    # given: retries come quickly, so a job that lost its races runs again at once
    settings.AUTOSKILL_JOB_RETRY_DELAY = 0.01
    outcomes: dict[int, tuple[str, str, str]] = {}

    def ingest(index: int, round_: int) -> None:
        result = extraction_ingest(
            user=user,
            messages=[
                {"role": "user", "content": "How do we deploy?"},
                {"role": "assistant", "content": "Run the checklist."},
                {"role": "user", "content": f"Also always do deploy step {index}."},
            ],
            trigger=JobTrigger.IMPORT_CONVERSATION,
            llm=_llm(model.base_url),
        )
        outcomes[index] = (result.status, result.outcome, result.error or "")

    # when
    errors = race(ingest, threads=JOBS, rounds=1)
    connections.close_all()

    # then every job completed as a merge into the one skill
    assert errors == []
    assert outcomes == {i: ("completed", "merged", "") for i in range(JOBS)}
    jobs = ExtractionJob.objects.filter(user=user)
    assert jobs.count() == JOBS
    assert set(jobs.values_list("status", flat=True)) == {JobStatus.COMPLETED}
    assert Skill.objects.filter(owner=user).count() == 1
    # ... no trigger was lost ...
    skill.refresh_from_db()
    wanted = {"deploy checklist", *(f"deploy step {i}" for i in range(JOBS))}
    assert set(skill.triggers) == wanted
    # ... and versions are 1..51: strictly monotonic, no gap, no duplicate.
    numbers = list(
        SkillVersion.objects.filter(skill=skill)
        .order_by("number")
        .values_list("number", flat=True)
    )
    assert numbers == list(range(1, JOBS + 2))
    assert skill.version_number == JOBS + 1
    # Each merge version adds exactly one trigger to the one before it.
    versions = SkillVersion.objects.filter(skill=skill).order_by("number")
    sizes = [len(v.triggers) for v in versions]
    assert sizes == list(range(1, JOBS + 2))
