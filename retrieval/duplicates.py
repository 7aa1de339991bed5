"""Find pairs of live skills in one scope (a user's, or one library's) that look alike.

Curators merge such pairs from the admin. Similarity is the cosine of the stored
embeddings of the configured signature (the vectors retrieval searches with); a
skill whose vector is missing or stale (its embedding text changed since) is
compared by keyword overlap instead, so drafts and freshly edited skills are not
silently left out. The two measures are reported separately, because a Jaccard
overlap and a cosine are not on the same scale.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from autoskill_site.exceptions import InvalidInput
from autoskill_site.providers.embeddings import embedder_from_settings
from retrieval.embeddings import from_blob, text_hash
from retrieval.models import SkillEmbedding
from retrieval.text import SkillText, embedding_text, tokenize
from skills.models import Skill, SkillStatus

VECTOR = "vector"
KEYWORDS = "keywords"
# Bounds on one request's work: the most recently updated skills are compared,
# vector scores are computed a block of rows at a time, keyword comparisons stop
# at a budget. A report says when a bound cut anything off.
MAX_SKILLS = 10_000
BLOCK_ROWS = 512
KEYWORD_BUDGET = 500_000
MAX_LIMIT = 1000
FLOAT_TOLERANCE = 1e-6
_COLLISION_SUFFIX = re.compile(r"-\d+$")

_FIELDS = (
    "id",
    "owner_id",
    "library_id",
    "name",
    "title",
    "description",
    "triggers",
    "tags",
    "status",
    "version",
    "created_at",
    "owner__username",
    "library__slug",
)


@dataclass(frozen=True)
class SkillBrief:
    """What the near-duplicates page shows of one skill."""

    id: str
    name: str
    title: str
    status: str
    version: str
    scope: str  # "user alice" or "library team"


@dataclass(frozen=True)
class DuplicatePair:
    """Two skills of one scope; `keep` is the suggested survivor of a merge."""

    keep: SkillBrief
    other: SkillBrief
    similarity: float
    method: str  # VECTOR or KEYWORDS


@dataclass(frozen=True)
class DuplicateReport:
    pairs: list[DuplicatePair]
    threshold: float
    signature: str
    compared: int
    truncated: bool


def near_duplicate_pairs(
    *, threshold: float, limit: int = 200, signature: str | None = None
) -> DuplicateReport:
    """The `limit` most similar same-scope pairs at or above `threshold`, best first.

    `signature` picks the stored vectors; None means the configured embedder's, and
    "" compares by keywords only.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("The similarity threshold must be between 0 and 1.")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"The number of pairs must be between 1 and {MAX_LIMIT}.")
    if signature is None:
        embedder = embedder_from_settings()
        signature = embedder.signature if embedder is not None else ""
    rows = list(
        Skill.objects.exclude(status=SkillStatus.ARCHIVED)
        .order_by("-updated_at", "pk")
        .values(*_FIELDS)[: MAX_SKILLS + 1]
    )
    truncated = len(rows) > MAX_SKILLS
    rows = rows[:MAX_SKILLS]
    vectors = _fresh_vectors(rows, signature) if signature else {}
    best = _Best(limit)
    budget = [KEYWORD_BUDGET]
    for members in _scopes(rows).values():
        if len(members) > 1:
            _vector_pairs(members, vectors, threshold, best)
            _keyword_pairs(rows, members, vectors, threshold, best, budget)
    pairs = [
        _pair(rows[i], rows[j], similarity, method)
        for similarity, _, i, j, method in sorted(best.items, reverse=True)
    ]
    return DuplicateReport(
        pairs=pairs,
        threshold=threshold,
        signature=signature,
        compared=len(rows),
        truncated=truncated or best.dropped > 0 or budget[0] < 0,
    )


class _Best:
    """A bounded min-heap of (similarity, order, i, j, method)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[tuple[float, int, int, int, str]] = []
        self.dropped = 0
        self._order = 0

    def add(self, similarity: float, i: int, j: int, method: str) -> None:
        self._order += 1
        # Ties keep the earlier pair: a later one gets a lower tie-break.
        item = (similarity, -self._order, min(i, j), max(i, j), method)
        if len(self.items) < self.limit:
            heapq.heappush(self.items, item)
        else:
            self.dropped += 1
            heapq.heappushpop(self.items, item)


def _scopes(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any], list[int]]:
    groups: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[(row["owner_id"], row["library_id"])].append(index)
    return groups


def _embedding_text(row: dict[str, Any]) -> str:
    return embedding_text(
        SkillText(
            title=row["title"],
            name=row["name"],
            description=row["description"],
            triggers=tuple(row["triggers"]),
            tags=tuple(row["tags"]),
            instructions="",  # not part of the embedded text
        )
    )


def _fresh_vectors(rows: list[dict[str, Any]], signature: str) -> dict[int, np.ndarray]:
    """Row index -> vector, for vectors computed from the skill's current text."""
    position = {row["id"]: index for index, row in enumerate(rows)}
    stored = (
        SkillEmbedding.objects.filter(signature=signature)
        .exclude(skill__status=SkillStatus.ARCHIVED)
        .values_list("skill_id", "dims", "content_hash", "vector")
    )
    vectors: dict[int, np.ndarray] = {}
    dims = None
    for skill_id, row_dims, digest, blob in stored.iterator(chunk_size=1000):
        index = position.get(skill_id)
        if index is None or digest != text_hash(_embedding_text(rows[index])):
            continue
        dims = dims or row_dims
        if row_dims == dims:
            vectors[index] = from_blob(blob, row_dims)
    return vectors


def _vector_pairs(
    members: list[int],
    vectors: dict[int, np.ndarray],
    threshold: float,
    best: _Best,
) -> None:
    with_vector = [i for i in members if i in vectors]
    if len(with_vector) < 2:
        return
    matrix = np.stack([vectors[i] for i in with_vector])
    for start in range(0, len(with_vector), BLOCK_ROWS):
        block = matrix[start : start + BLOCK_ROWS] @ matrix.T
        # Each pair once: only columns right of the diagonal. float32 rounding puts
        # the cosine of identical vectors just under 1, hence the tolerance.
        above = np.triu(block >= threshold - FLOAT_TOLERANCE, k=start + 1)
        for r, c in zip(*(axis.tolist() for axis in np.nonzero(above)), strict=True):
            score = min(1.0, float(block[r, c]))
            best.add(score, with_vector[start + r], with_vector[c], VECTOR)


def _keyword_pairs(
    rows: list[dict[str, Any]],
    members: list[int],
    vectors: dict[int, np.ndarray],
    threshold: float,
    best: _Best,
    budget: list[int],
) -> None:
    """Pairs with at least one vector-less skill, scored by Jaccard token overlap."""
    without = [i for i in members if i not in vectors]
    if not without:
        return
    tokens = {i: _tokens(rows[i]) for i in members}
    done: set[int] = set()
    for i in without:
        done.add(i)
        for j in members:
            if j in done:
                continue  # i-j of two vector-less skills is counted once
            budget[0] -= 1
            if budget[0] < 0:
                return
            score = _jaccard(tokens[i], tokens[j])
            if score >= threshold and score > 0:
                best.add(score, i, j, KEYWORDS)


def _tokens(row: dict[str, Any]) -> frozenset[str]:
    # "-2" is only the suffix a name collision got; it says nothing about the topic.
    name = _COLLISION_SUFFIX.sub("", row["name"]).replace("-", " ")
    text = "\n".join([name, row["title"], *row["triggers"]])
    return frozenset(tokenize(text))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _brief(row: dict[str, Any]) -> SkillBrief:
    scope = (
        f"library {row['library__slug']}"
        if row["library_id"]
        else f"user {row['owner__username']}"
    )
    return SkillBrief(
        id=str(row["id"]),
        name=row["name"],
        title=row["title"],
        status=row["status"],
        version=row["version"],
        scope=scope,
    )


def _pair(
    a: dict[str, Any], b: dict[str, Any], similarity: float, method: str
) -> DuplicatePair:
    """Suggest keeping the active one, then the older one (links point at it longer)."""

    def rank(row: dict[str, Any]) -> tuple[bool, datetime]:
        return (row["status"] != SkillStatus.ACTIVE, row["created_at"])

    keep, other = (a, b) if rank(a) <= rank(b) else (b, a)
    return DuplicatePair(
        keep=_brief(keep),
        other=_brief(other),
        similarity=round(similarity, 4),
        method=method,
    )
