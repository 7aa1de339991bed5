"""Fixtures and helpers shared by the extraction / retrieval / vectors API tests."""

from __future__ import annotations

from typing import Any

import pytest

from extraction.jobs import job_claim
from extraction.models import ExtractionJob
from extraction.pipeline import job_run
from proxy.auth import api_key_create

IMMEDIATE_TASKS = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "extraction", "audit"],
    }
}
RELEASE = [
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
    {"role": "assistant", "content": "Got it."},
    {"role": "user", "content": "Always in that order, never skip the canary."},
]


def bearer(user: Any, **options: Any) -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=user, **options).secret}"
    }


@pytest.fixture
def auth(user) -> dict[str, str]:
    return bearer(user)


@pytest.fixture
def other_auth(other_user) -> dict[str, str]:
    return bearer(other_user)


@pytest.fixture
def immediate_tasks(settings) -> None:
    settings.TASKS = IMMEDIATE_TASKS


@pytest.fixture
def fake_llm(settings, fake_openai):
    """The fake OpenAI server as the one chat model (provider `generic`), no retries."""
    settings.AUTOSKILL_LLM_PROVIDER = "generic"
    settings.AUTOSKILL_LLM_BASE_URL = fake_openai.base_url
    settings.AUTOSKILL_LLM_MODEL = "fake-model"
    settings.AUTOSKILL_LLM_RETRIES = 0
    return fake_openai


def run_job(job: ExtractionJob | str) -> ExtractionJob:
    """Run a queued job now, as a worker would (offline extraction model)."""
    job_id = job.pk if isinstance(job, ExtractionJob) else job
    claimed = job_claim(job_id=job_id, capped=False)
    assert claimed is not None, "the job was not claimable"
    return job_run(job=claimed)
