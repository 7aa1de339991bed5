"""The startup index refresh, as a django-tasks job for the worker.

Startup must not wait for vectors (thousands of skills take minutes with the local
model), so `startup_maintenance` queues `refresh_indexes` on the `default` queue and
the worker (`extraction_worker`) runs it. It embeds every active skill whose vector is
missing or stale (the original's refresh_from_disk), and builds the shared library's
keyword index, which is saved under SkillBank/index/ when it is big enough, so every
server process starts from the file instead of tokenising the library again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django_tasks import task

from autoskill_site.providers.embeddings import embedder_from_settings
from retrieval.embedding_worker import discard_pending
from retrieval.embeddings import embeddings_refresh
from retrieval.index import index_cache
from retrieval.models import SkillEmbedding
from skills.signals import LIBRARY_SCOPE

__all__ = [
    "IndexRefresh",
    "embeddings_left_to_refresh",
    "index_refresh",
    "refresh_indexes",
]


@dataclass(frozen=True)
class IndexRefresh:
    """What one refresh did."""

    signature: str
    embedded: int
    fresh: int
    library_skills: int

    def summary(self) -> str:
        vectors = (
            f"{self.embedded} vectors computed, {self.fresh} fresh ({self.signature})"
            if self.signature
            else "no embedding provider"
        )
        return f"{vectors}; library index: {self.library_skills} skills"


def index_refresh(*, force_vectors: bool = False) -> IndexRefresh:
    """Embed stale skills, then build the library index (saved when it is large)."""
    embedder = embedder_from_settings()
    embedded = fresh = 0
    if embedder is not None:
        discard_pending()  # this run covers whatever the write path had queued
        if force_vectors:
            SkillEmbedding.objects.filter(signature=embedder.signature).delete()
        report = embeddings_refresh(embedder=embedder)
        embedded, fresh = report.embedded, report.fresh
    signature = embedder.signature if embedder is not None else ""
    (library,) = index_cache.get([LIBRARY_SCOPE], signature=signature)
    return IndexRefresh(
        signature=signature,
        embedded=embedded,
        fresh=fresh,
        library_skills=len(library),
    )


@contextlib.contextmanager
def embeddings_left_to_refresh() -> Iterator[None]:
    """Skill writes inside queue no vectors in this process; the refresh job does them.

    A command's embedding thread is not a daemon (its vectors are finished before the
    process exits), so importing thousands of skills at startup would hold the start
    for minutes with the local model. Nothing is lost: vectors are stale by content
    hash until the queued `refresh_indexes` computes them in the worker.
    """
    previous = settings.AUTOSKILL_EMBEDDINGS_PROVIDER
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "none"
    try:
        yield
    finally:
        settings.AUTOSKILL_EMBEDDINGS_PROVIDER = previous


@task(queue_name="default")
def refresh_indexes(force_vectors: bool = False) -> str:
    """Queued by startup_maintenance; the result text shows in the admin's task list."""
    return index_refresh(force_vectors=force_vectors).summary()
