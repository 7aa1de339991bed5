"""Retrieval benchmark: bench folders through the real search service, plus baselines.

Bench format: ../shared/bench/README.md. Every query goes through `skill_search`,
the same function the HTTP API calls; a plain BM25 baseline (bm25s, lowercase
words + CJK character bigrams, weighted fields) is measured in the same run so the
figures can be compared as ratios on a noisy machine.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np

from retrieval.search import skill_search

KS = (1, 5, 10)


@dataclass(frozen=True)
class BenchQuery:
    qid: str
    query: str
    expected_id: str
    lang: str
    equivalent_ids: tuple[str, ...]


def load_queries(bench_dir: Path) -> list[BenchQuery]:
    queries = []
    with open(bench_dir / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                item = json.loads(line)
                queries.append(
                    BenchQuery(
                        qid=item["qid"],
                        query=item["query"],
                        expected_id=item["expected_id"],
                        lang=item.get("lang", "en"),
                        equivalent_ids=tuple(item.get("equivalent_ids") or ()),
                    )
                )
    return queries


@dataclass
class Metrics:
    """Recall@k, MRR@10 and their tolerant (`_tol`) variants for one group of queries."""

    count: int = 0
    hits: dict[str, float] = field(default_factory=dict)

    def add(self, ranked: list[str], query: BenchQuery) -> None:
        self.count += 1
        accepted = {query.expected_id, *query.equivalent_ids}
        for suffix, targets in (("", {query.expected_id}), ("_tol", accepted)):
            position = next(
                (i for i, sid in enumerate(ranked[:10]) if sid in targets), None
            )
            for k in KS:
                key = f"R@{k}{suffix}"
                self.hits[key] = self.hits.get(key, 0.0) + (
                    1.0 if position is not None and position < k else 0.0
                )
            key = f"MRR@10{suffix}"
            self.hits[key] = self.hits.get(key, 0.0) + (
                0.0 if position is None else 1.0 / (position + 1)
            )

    def value(self, key: str) -> float:
        return self.hits.get(key, 0.0) / self.count if self.count else 0.0


@dataclass
class RunResult:
    """Metrics per language group and per-query latencies of one system."""

    name: str
    groups: dict[str, Metrics] = field(default_factory=dict)
    search_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    build_s: float = 0.0

    def add(self, ranked: list[str], query: BenchQuery) -> None:
        for group in ("all", query.lang):
            self.groups.setdefault(group, Metrics()).add(ranked, query)


def evaluate(
    name: str,
    queries: Iterable[BenchQuery],
    ranker: Callable[[str], tuple[list[str], float, float]],
    *,
    warmup: int = 20,
) -> RunResult:
    """Run every query; `ranker` returns (ranked ids, search ms, total ms)."""
    queries = list(queries)
    for query in queries[:warmup]:
        ranker(query.query)
    result = RunResult(name=name)
    for query in queries:
        ranked, search_ms, total_ms = ranker(query.query)
        result.add(ranked, query)
        result.search_ms.append(search_ms)
        result.total_ms.append(total_ms)
    return result


def service_ranker(
    *, user: object, embedder: object
) -> Callable[[str], tuple[list[str], float, float]]:
    def rank(query: str) -> tuple[list[str], float, float]:
        started = time.perf_counter()
        result = skill_search(
            user=user,
            query=query,
            scope="all",
            top_k=10,
            min_score=0.0,
            embedder=embedder,
        )
        total = (time.perf_counter() - started) * 1000
        search = result.timings["index_ms"] + result.timings["search_ms"]
        return [hit.skill.id for hit in result.hits], search, total

    return rank


_WORDS = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u4e00-\u9fff]+")


def plain_tokens(text: str) -> list[str]:
    text = text.lower()
    tokens = _WORDS.findall(text)
    for run in _HAN.findall(text):
        tokens.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return tokens


def plain_bm25_ranker(
    docs: list[tuple[str, str]],
) -> tuple[Callable[[str], tuple[list[str], float, float]], float]:
    """The baseline: bm25s over `docs` (id, weighted text); returns (ranker, build seconds)."""
    started = time.perf_counter()
    ids = [sid for sid, _ in docs]
    retriever = bm25s.BM25()
    retriever.index([plain_tokens(text) for _, text in docs], show_progress=False)
    build = time.perf_counter() - started

    def rank(query: str) -> tuple[list[str], float, float]:
        started = time.perf_counter()
        tokens = [t for t in plain_tokens(query) if t in retriever.vocab_dict]
        scores = retriever.get_scores(tokens) if tokens else np.zeros(len(ids))
        top = np.argsort(-scores, kind="stable")[:10]
        elapsed = (time.perf_counter() - started) * 1000
        return [ids[i] for i in top], elapsed, elapsed

    return rank, build


def baseline_text(
    *,
    title: str,
    description: str,
    triggers: list[str],
    tags: list[str],
    instructions: str,
) -> str:
    return "\n".join(
        [
            title,
            title,
            description,
            description,
            *triggers,
            *triggers,
            *tags,
            instructions[:2000],
        ]
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def format_table(results: list[RunResult]) -> str:
    columns = ["R@1", "R@5", "R@10", "MRR@10", "R@1_tol", "MRR@10_tol"]
    lines = [
        "| system | group | n | "
        + " | ".join(columns)
        + " | build s | p50 ms | p95 ms | p50 ms incl. embed |",
        "|---" * (len(columns) + 7) + "|",
    ]
    for result in results:
        for group in ("all", "en", "zh"):
            metrics = result.groups.get(group)
            if metrics is None:
                continue
            values = " | ".join(f"{metrics.value(c):.3f}" for c in columns)
            timing = (
                f"{result.build_s:.1f} | {statistics.median(result.search_ms):.2f} | "
                f"{percentile(result.search_ms, 95):.2f} | {statistics.median(result.total_ms):.2f}"
                if group == "all"
                else " | | |"
            )
            lines.append(
                f"| {result.name} | {group} | {metrics.count} | {values} | {timing} |"
            )
    return "\n".join(lines)
