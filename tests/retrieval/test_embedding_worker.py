from __future__ import annotations

import time

import pytest

from retrieval import embedding_worker
from retrieval.models import SkillEmbedding
from tests.factories import make_skill


@pytest.mark.django_db(transaction=True)
def test_worker_embeds_in_the_background_then_exits_when_idle(
    user, settings, monkeypatch
):
    """Changes are embedded off the request thread; the idle worker ends so a process can exit."""
    settings.AUTOSKILL_EMBEDDINGS_SYNC = False
    monkeypatch.setattr(embedding_worker, "IDLE_SECONDS", 0.2)
    # when
    skill = make_skill(owner=user)
    # then
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and not SkillEmbedding.objects.filter(skill=skill).exists()
    ):
        time.sleep(0.05)
    assert SkillEmbedding.objects.filter(skill=skill).exists()
    while time.monotonic() < deadline and embedding_worker._thread is not None:
        time.sleep(0.05)
    assert embedding_worker._thread is None
