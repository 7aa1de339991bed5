"""A worker killed mid-job (SIGKILL) loses nothing: the next worker resumes the job.

Integration test with real processes: `extraction_worker` runs as a child process
against this test's database and the fake model server; the first child is killed
while its model call hangs, its lease expires, and a second child completes the job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from extraction.models import ExtractionJob
from extraction.services import extraction_submit
from skills.models import Skill
from tests.extraction.llm_fixtures import RELEASE_SKILL
from tests.fakes.openai_server import CHAT, Scripted

LEASE_SECONDS = 5


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def worker(
    fake_openai, store_dir, *, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autoskill_site.settings.base",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": database_url(),
        "AUTOSKILL_STORE_DIR": str(store_dir),
        "AUTOSKILL_EMBEDDINGS_PROVIDER": "hashing",
        "AUTOSKILL_EMBEDDINGS_SYNC": "1",
        "AUTOSKILL_LLM_PROVIDER": "generic",
        "AUTOSKILL_GENERIC_LLM_URL": fake_openai.base_url,
        "AUTOSKILL_GENERIC_LLM_MODEL": "fake",
        "AUTOSKILL_LLM_RETRIES": "0",
        "AUTOSKILL_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    return subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "extraction_worker", "--batch", "--interval", "0.2", "--verbosity", "0"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
    )  # fmt: skip


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_job_is_resumed_and_completed_by_the_next(
    user, fake_openai, store_dir
):
    answer = json.dumps({"skills": [RELEASE_SKILL]})
    fake_openai.enqueue(CHAT, Scripted(text=answer, delay=60), Scripted(text=answer))
    job, _ = extraction_submit(
        user=user, trigger="extract_now",
        messages=[{"role": "user", "content": "Before each release: regression -> canary -> monitor -> rollout."}],
    )  # fmt: skip

    first = worker(fake_openai, store_dir)
    try:
        wait_for(
            lambda: len(fake_openai.requests_to(CHAT)) == 1
        )  # the model call hangs now
        assert ExtractionJob.objects.get(pk=job.pk).status == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    wait_for(
        lambda: ExtractionJob.objects.get(pk=job.pk).lease_expires_at < _now(),
        timeout=LEASE_SECONDS * 3,
    )

    second = worker(fake_openai, store_dir, stderr=subprocess.PIPE)
    _, errors = second.communicate(timeout=60)
    assert second.returncode == 0, errors.decode()[-2000:]

    job.refresh_from_db()
    assert (job.status, job.outcome, job.attempts) == ("completed", "added", 2)
    assert Skill.objects.filter(owner=user, name=RELEASE_SKILL["name"]).count() == 1
    # Nothing lost: the evidence is intact, the timeline shows the kill and the
    # resume, and the answer of the second attempt is the skill, written once.
    assert job.window[0]["content"].startswith("Before each release")
    assert list(job.job_events.order_by("seq").values_list("message", flat=True)) == [
        "scheduled",
        "running (attempt 1)",
        "resumed: the previous worker stopped",
        "running (attempt 2)",
        "added",
    ]
    skill = Skill.objects.get(owner=user)
    assert skill.versions.count() == 1
    assert skill.description == RELEASE_SKILL["description"]
    assert [s["id"] for s in job.upserted] == [str(skill.pk)]


def _now():
    from django.utils import timezone

    return timezone.now()
