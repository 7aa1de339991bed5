"""Integration: a slice of the real dev bench, imported and searched through the service."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from retrieval.index import index_cache
from retrieval.search import skill_search

BENCH_DEV = Path(__file__).resolve().parents[3] / "shared" / "bench" / "dev"
SLICE = 150

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.skipif(not BENCH_DEV.is_dir(), reason="shared bench data not present"),
]


@pytest.fixture
def bench_slice(tmp_path: Path) -> list[dict]:
    queries = [
        json.loads(line)
        for line in (BENCH_DEV / "queries.jsonl").read_text().splitlines()
        if line
    ]
    chosen = [q for q in queries if q["lang"] == "en"][: SLICE // 2] + [
        q for q in queries if q["lang"] == "zh"
    ][: SLICE // 2]
    wanted = {q["expected_id"] for q in chosen}
    folder = tmp_path / "skills"
    for skill_id in wanted:
        (folder / skill_id).mkdir(parents=True)
        (folder / skill_id / "SKILL.md").write_bytes(
            (BENCH_DEV / "skills" / skill_id / "SKILL.md").read_bytes()
        )
    call_command(
        "import_skills",
        str(folder),
        "--library",
        "bench",
        "--keep-ids",
        "--no-progress",
        stdout=StringIO(),
    )
    index_cache.clear()
    return [q for q in queries if q["expected_id"] in wanted]


@pytest.mark.parametrize(
    "embedder", [None, True], ids=["keyword-only", "hybrid-hashing"]
)
def test_held_out_triggers_find_their_skill(user, bench_slice, embedder):
    """Held-out trigger phrases rank their own skill first for nearly every query, en and zh."""
    hits = {"en": [], "zh": []}
    for query in bench_slice:
        result = skill_search(
            user=user,
            query=query["query"],
            scope="all",
            top_k=5,
            min_score=0,
            embedder=embedder,
        )
        ranked = [hit.skill.id for hit in result.hits]
        hits[query["lang"]].append(bool(ranked) and ranked[0] == query["expected_id"])
    for lang, found in hits.items():
        assert found and sum(found) / len(found) >= 0.85, (lang, sum(found), len(found))
