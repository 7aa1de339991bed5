"""Synthetic scale test: N skills of Zipf-distributed text and random unit vectors.

Embedding 100k real texts would take over an hour here, so this measures what the
index itself costs at that size: build time, per-query latency and memory.
"""

from __future__ import annotations

import resource
import statistics
import time

import numpy as np

from retrieval.index import IndexedSkill, ScopeIndex
from retrieval.keyword import KeywordIndex
from retrieval.search import rank

DIMS = 384
VOCABULARY = 30_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_synthetic(count: int, *, queries: int = 300, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(VOCABULARY)]
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.07
    weights /= weights.sum()
    before = _rss_mb()
    started = time.perf_counter()
    lengths = rng.integers(20, 80, size=count)
    drawn = rng.choice(VOCABULARY, size=int(lengths.sum()), p=weights)
    token_lists, offset = [], 0
    for length in lengths:
        token_lists.append([words[i] for i in drawn[offset : offset + length]])
        offset += length
    generated = time.perf_counter() - started

    started = time.perf_counter()
    ids = [f"s{i}" for i in range(count)]
    index = ScopeIndex(scope="libraries", generation=1, signature="synthetic")
    index.skills = [
        IndexedSkill(
            id=i,
            name=i,
            title=i,
            description="",
            version="0.1.0",
            owner_id=None,
            library_slug="synthetic",
        )
        for i in ids
    ]
    index.keyword = KeywordIndex(ids, token_lists)
    vectors = rng.standard_normal((count, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.vectors, index.has_vector = vectors, np.ones(count, dtype=bool)
    built = time.perf_counter() - started

    keyword_ms, hybrid_ms = [], []
    for q in range(queries):
        doc = token_lists[int(rng.integers(count))]
        text = " ".join(doc[j] for j in rng.integers(len(doc), size=4))
        query_vector = vectors[int(rng.integers(count))]
        for sink, vector in ((keyword_ms, None), (hybrid_ms, query_vector)):
            t = time.perf_counter()
            rank([index], query=text, query_vector=vector, top_k=5, min_score=0.0)
            if q >= 20:
                sink.append((time.perf_counter() - t) * 1000)
    return (
        f"synthetic {count:,} skills: text generated in {generated:.1f}s, index built in {built:.1f}s, "
        f"RSS {before:.0f} -> {_rss_mb():.0f} MB; p50 search {statistics.median(keyword_ms):.2f} ms "
        f"keyword-only, {statistics.median(hybrid_ms):.2f} ms hybrid (excluding query embedding)"
    )
