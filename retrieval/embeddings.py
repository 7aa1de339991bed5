"""Compute and store skill vectors; stale ones are found by content hash.

Vectors are computed off the query path (the background worker or the
`refresh_embeddings` command). The hash stored with a vector is the hash of the
text that was actually embedded, so a skill edited while its vector was being
computed stays stale and is embedded again (the original marked it fresh).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from autoskill_site.providers.embeddings import Embedder, embedder_from_settings
from retrieval.generations import generation_bump
from retrieval.models import SkillEmbedding
from retrieval.text import SkillText, embedding_text
from retrieval.vectors import write_vector_files
from skills.models import Skill, SkillStatus
from skills.signals import scope_of

SKILL_TEXT_FIELDS = (
    "id",
    "owner_id",
    "library_id",
    "title",
    "name",
    "description",
    "triggers",
    "tags",
    "instructions",
)


def skill_text(row: dict) -> SkillText:
    return SkillText(
        title=row["title"],
        name=row["name"],
        description=row["description"],
        triggers=tuple(row["triggers"]),
        tags=tuple(row["tags"]),
        instructions=row["instructions"],
    )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes, dims: int) -> np.ndarray:
    return np.frombuffer(bytes(blob), dtype="<f4", count=dims).astype(np.float32)


@dataclass
class RefreshReport:
    """How many vectors a refresh computed, and for which signature."""

    signature: str = ""
    embedded: int = 0
    fresh: int = 0


def embeddings_refresh(
    *,
    skill_ids: Iterable[object] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] | None = None,
) -> RefreshReport:
    """Embed every active skill (or the given ones) whose vector is missing or stale."""
    embedder = embedder or embedder_from_settings()
    if embedder is None:
        return RefreshReport()
    report = RefreshReport(signature=embedder.signature)
    rows = Skill.objects.filter(status=SkillStatus.ACTIVE)
    if skill_ids is not None:
        rows = rows.filter(pk__in=list(skill_ids))
    stored = dict(
        SkillEmbedding.objects.filter(
            signature=embedder.signature, skill__in=rows
        ).values_list("skill_id", "content_hash")
    )
    pending: list[tuple[dict, str, str]] = []
    for row in rows.values(*SKILL_TEXT_FIELDS).iterator(chunk_size=500):
        text = embedding_text(skill_text(row))
        digest = text_hash(text)
        if stored.get(row["id"]) == digest:
            report.fresh += 1
            if progress:
                progress(1)
            continue
        pending.append((row, text, digest))
    batch_size = settings.AUTOSKILL_EMBEDDINGS_BATCH_SIZE
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        vectors = embedder.embed_passages([text for _, text, _ in batch])
        _store(embedder, batch, vectors)
        report.embedded += len(batch)
        generation_bump(
            scopes={
                scope_of(owner_id=r["owner_id"], library_id=r["library_id"])
                for r, _, _ in batch
            }
        )
        if progress:
            progress(len(batch))
    if report.embedded:
        vectors_mirror(signature=embedder.signature)
    return report


def _store(
    embedder: Embedder, batch: list[tuple[dict, str, str]], vectors: np.ndarray
) -> None:
    existing = {
        e.skill_id: e
        for e in SkillEmbedding.objects.filter(
            signature=embedder.signature, skill_id__in=[r["id"] for r, _, _ in batch]
        )
    }
    live = set(
        Skill.objects.filter(pk__in=[r["id"] for r, _, _ in batch]).values_list(
            "pk", flat=True
        )
    )
    create, update = [], []
    for (row, _, digest), vector in zip(batch, vectors, strict=True):
        if row["id"] not in live:  # deleted while it was being embedded
            continue
        item = existing.get(row["id"]) or SkillEmbedding(
            skill_id=row["id"], signature=embedder.signature
        )
        item.content_hash, item.dims, item.vector = (
            digest,
            embedder.dims,
            to_blob(vector),
        )
        (update if item.pk else create).append(item)
    SkillEmbedding.objects.bulk_create(create, batch_size=200, ignore_conflicts=True)
    SkillEmbedding.objects.bulk_update(
        update, ["content_hash", "dims", "vector", "updated_at"], batch_size=200
    )


def vectors_mirror(*, signature: str) -> None:
    """Write SkillBank/vectors/<signature>.* for every active skill that has a vector."""
    if not getattr(settings, "AUTOSKILL_MIRROR_ENABLED", True):
        return
    rows = SkillEmbedding.objects.filter(
        signature=signature, skill__status=SkillStatus.ACTIVE
    ).order_by("skill_id")
    ids, blobs, dims = [], [], 0
    for skill_id, blob, row_dims in rows.values_list(
        "skill_id", "vector", "dims"
    ).iterator(chunk_size=1000):
        ids.append(str(skill_id))
        blobs.append(bytes(blob))
        dims = row_dims
    if not ids:
        return
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), dims)
    write_vector_files(
        Path(settings.AUTOSKILL_STORE_DIR) / "vectors", signature, ids, matrix
    )
