"""Skill search: the one entry point every path (proxy, browser, API, benchmark) calls.

Scopes follow the original: `user` is the caller's own skills, `library` the shared
libraries, `all` both. A user's index holds only that user's skills, and every hit
is checked against its owner again, so no path can return another user's skills.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from autoskill_site.exceptions import InvalidInput
from autoskill_site.providers.embeddings import (
    Embedder,
    EmbeddingError,
    embedder_from_settings,
)
from retrieval.background import background_cosine, background_vectors
from retrieval.fusion import fuse
from retrieval.index import IndexedSkill, ScopeIndex, index_cache
from retrieval.text import tokenize
from skills.signals import LIBRARY_SCOPE

SCOPES = ("user", "library", "all")
SCOPE_ALIASES = {"common": "library", "shared": "library", "libraries": "library"}
MAX_TOP_K = 200
MAX_QUERY_CHARS = 4000
CANDIDATES_PER_SIDE = 50


@dataclass(frozen=True)
class SkillHit:
    """One ranked skill with its calibrated score and the evidence behind it."""

    rank: int
    skill: IndexedSkill
    score: float
    keyword_score: float
    vector_score: float | None


@dataclass
class SearchResult:
    """Hits plus what it cost: `timings` in milliseconds, query embedding separate."""

    query: str
    scope: str
    hits: list[SkillHit]
    mode: str  # "hybrid" or "keyword"
    timings: dict[str, float] = field(default_factory=dict)


class _QueryVectorCache:
    """Recent query embeddings; repeated queries skip the model entirely."""

    def __init__(self, size: int = 512) -> None:
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, embedder: Embedder, query: str) -> np.ndarray:
        key = (embedder.signature, query)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        vector = embedder.embed_query(query)
        with self._lock:
            self._items[key] = vector
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return vector


_query_vectors = _QueryVectorCache()


def normalise_scope(scope: str | None) -> str:
    value = (scope or "all").strip().lower()
    value = SCOPE_ALIASES.get(value, value)
    if value not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}.")
    return value


def _scope_keys(user: Any, scope: str) -> list[str]:
    keys = []
    if scope in ("user", "all") and user is not None:
        keys.append(f"user:{user.pk}")
    if scope in ("library", "all"):
        keys.append(LIBRARY_SCOPE)
    return keys


def skill_search(
    *,
    user: Any,
    query: str,
    scope: str | None = "all",
    top_k: int | None = None,
    min_score: float | None = None,
    embedder: Embedder | None | bool = True,
) -> SearchResult:
    """Rank the skills `user` may use for `query`; scores are calibrated to [0, 1].

    `embedder=True` uses the configured provider, None/False forces keyword-only.
    """
    scope = normalise_scope(scope)
    query = (query or "").strip()
    if not query:
        raise InvalidInput("query must be a non-empty string.")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"query is longer than {MAX_QUERY_CHARS} characters.")
    top_k = settings.AUTOSKILL_TOP_K if top_k is None else int(top_k)
    if not 1 <= top_k <= MAX_TOP_K:
        raise InvalidInput(f"top_k/limit must be between 1 and {MAX_TOP_K}.")
    min_score = settings.AUTOSKILL_MIN_SCORE if min_score is None else float(min_score)
    if not 0.0 <= min_score <= 1.0:
        raise InvalidInput("min_score must be between 0 and 1.")
    if embedder is True:
        embedder = embedder_from_settings()
    embedder = embedder or None
    timings: dict[str, float] = {}

    started = time.perf_counter()
    query_vector = background = None
    if embedder is not None:
        try:
            query_vector = _query_vectors.get(embedder, query)
        except EmbeddingError:
            query_vector = None  # the keyword side still answers
        if query_vector is not None:
            # Embedded once per process and signature; None if that failed.
            background = background_vectors(embedder=embedder)
    timings["embed_ms"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    indexes = index_cache.get(
        _scope_keys(user, scope), signature=embedder.signature if embedder else ""
    )
    timings["index_ms"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    hits, mode = rank(
        indexes,
        query=query,
        query_vector=query_vector,
        top_k=top_k,
        min_score=min_score,
        background=background,
    )
    hits = [h for h in hits if _visible(h.skill, user)]
    timings["search_ms"] = (time.perf_counter() - started) * 1000
    return SearchResult(query=query, scope=scope, hits=hits, mode=mode, timings=timings)


def _visible(skill: IndexedSkill, user: Any) -> bool:
    return bool(skill.library_slug) or (user is not None and skill.owner_id == user.pk)


def rank(
    indexes: list[ScopeIndex],
    *,
    query: str,
    query_vector: np.ndarray | None,
    top_k: int,
    min_score: float,
    background: np.ndarray | None = None,
) -> tuple[list[SkillHit], str]:
    """Score every candidate of the given scopes together, so scores share one scale.

    `background` is the background skills' matrix (retrieval/background.py): its
    cosine is every query's runner-up floor, so a scope of one skill is not
    scored as if nothing could compete with it.
    """
    tokens = tokenize(query)
    skills: list[IndexedSkill] = []
    keyword_parts, cosine_parts, has_parts = [], [], []
    for index in indexes:
        if not len(index):
            continue
        skills.extend(index.skills)
        keyword_parts.append(
            index.keyword.scores(tokens) if tokens else np.zeros(len(index), np.float32)
        )
        if query_vector is not None and index.vectors is not None:
            cosine_parts.append(index.vectors @ query_vector)
            has_parts.append(index.has_vector)
        else:
            cosine_parts.append(np.zeros(len(index), np.float32))
            has_parts.append(np.zeros(len(index), dtype=bool))
    if not skills:
        return [], "keyword" if query_vector is None else "hybrid"
    keyword = np.concatenate(keyword_parts).astype(np.float32, copy=False)
    has_vector = np.concatenate(has_parts)
    cosine = None
    if query_vector is not None and has_vector.any():
        cosine = np.concatenate(cosine_parts).astype(np.float32, copy=False)
    # Fusion features need only each side's best and runner-up, which the union of
    # both sides' top candidates contains; the model was fitted on that union too.
    # So scoring the union gives the same scores as scoring everything, cheaper.
    candidates = _candidates(keyword, cosine, top_k)
    keyword_c = keyword[candidates]
    if cosine is not None:
        scores = fuse(
            keyword_c,
            cosine[candidates],
            query_token_count=len(tokens),
            background_cosine=background_cosine(
                vectors=background, query_vector=query_vector
            ),
        )
        missing = ~has_vector[candidates]
        if missing.any():
            # Rows without a vector yet are scored on keywords alone, not as cosine 0.
            keyword_only = fuse(keyword_c, None, query_token_count=len(tokens))
            scores = np.where(missing, keyword_only, scores)
        mode = "hybrid"
    else:
        scores = fuse(keyword_c, None, query_token_count=len(tokens))
        mode = "keyword"
    order = candidates[_top(scores, top_k)].tolist()
    scores = dict(zip(candidates.tolist(), scores.tolist(), strict=True))
    hits = []
    for position in order:
        score = float(scores[position])
        if score < min_score:
            break
        hits.append(
            SkillHit(
                rank=len(hits) + 1,
                skill=skills[position],
                score=round(score, 6),
                keyword_score=float(keyword[position]),
                vector_score=None
                if cosine is None or not has_vector[position]
                else float(cosine[position]),
            )
        )
    return hits, mode


def _candidates(
    keyword: np.ndarray, cosine: np.ndarray | None, top_k: int
) -> np.ndarray:
    per_side = max(CANDIDATES_PER_SIDE, top_k)
    if len(keyword) <= 2 * per_side:
        return np.arange(len(keyword))
    chosen = np.argpartition(-keyword, per_side - 1)[:per_side]
    if cosine is not None:
        chosen = np.union1d(chosen, np.argpartition(-cosine, per_side - 1)[:per_side])
    return np.sort(chosen)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    if len(scores) <= k:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]
