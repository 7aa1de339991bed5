"""React to committed skill changes: bump scope generations, queue embedding refresh."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from retrieval.embedding_worker import embedding_refresh_enqueue
from retrieval.generations import generation_bump
from skills.signals import skills_changed


@receiver(skills_changed)
def on_skills_changed(*, skill_ids: list[Any], scopes: list[str], **_: Any) -> None:
    generation_bump(scopes=scopes)
    embedding_refresh_enqueue(skill_ids=skill_ids)
