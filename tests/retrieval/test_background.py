"""Small scopes: with the background competitor an unrelated skill no longer scores ~1.

A scope of one or two skills used to have no runner-up, so fusion's margins made any
cosine and any shared word decisive (retrieval/fusion.py, "Small scopes").
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from autoskill_site.providers.embeddings import EmbeddingError, HashingEmbedder
from autoskill_site.providers.offline import OfflineLLM
from extraction.candidate import candidate_from_json
from extraction.maintenance import candidate_query, decide
from retrieval import background
from retrieval.background import (
    BACKGROUND_RANK,
    BACKGROUND_SKILLS,
    BackgroundCache,
    background_cache,
    background_cosine,
)
from retrieval.search import skill_search
from tests.factories import make_skill

pytestmark = pytest.mark.django_db

RELEASE_TURN = (
    "Before each release: run regression -> canary -> monitor -> full rollout"
)
UNRELATED = [
    "write a poem about the sea",
    "write the release notes for v2",
    "plan a 3 day trip to Kyoto",
    "translate this paragraph into French",
]


@pytest.fixture(autouse=True)
def fresh_background():
    background_cache.clear()
    yield
    background_cache.clear()


def commit_skill(user, on_commit):
    """The browser test's only skill, which the release process was merged into."""
    with on_commit():
        return make_skill(
            owner=user,
            title="Commit messages",
            name="commit-messages",
            description="Write commit messages in the team's style.",
            triggers=["write a commit message"],
            tags=["git"],
            instructions="# Goal\nImperative subject under 50 characters, then a body.",
        )


def sql_skill(user, on_commit):
    with on_commit():
        return make_skill(
            owner=user,
            title="SQL query reviewer",
            name="sql-query-reviewer",
            description="Review SQL queries for missing indexes and N+1 patterns.",
            triggers=["review my sql", "why is this query slow"],
            tags=["sql", "database"],
            instructions="# Goal\nFaster queries.\n\n# Workflow\n1. Check EXPLAIN output first.",
        )


def release_candidate():
    raw = OfflineLLM().extract_candidate(
        user_turns=[RELEASE_TURN], context_turns=None, hint=None
    )
    return candidate_from_json({"skills": [raw]})


def top_score(user, query: str, **kwargs) -> tuple[str | None, float]:
    hits = skill_search(
        user=user, query=query, scope="user", top_k=5, min_score=0, **kwargs
    ).hits
    return (hits[0].skill.name, hits[0].score) if hits else (None, 0.0)


def test_one_skill_scores_its_trigger_high_and_unrelated_queries_low(
    user, on_commit, settings
):
    """A user's only skill is found for its trigger, not for everything else."""
    commit_skill(user, on_commit)
    low = min(settings.AUTOSKILL_DEDUPE_THRESHOLD, 0.5, settings.AUTOSKILL_MIN_SCORE)

    name, score = top_score(user, "write a commit message")
    assert name == "commit-messages" and score >= 0.9

    for query in [*UNRELATED, candidate_query(release_candidate())]:
        name, score = top_score(user, query)
        assert score < low, (query, score)


def test_two_unrelated_skills_each_win_their_trigger_only(user, on_commit, settings):
    commit_skill(user, on_commit)
    sql_skill(user, on_commit)
    low = min(settings.AUTOSKILL_DEDUPE_THRESHOLD, 0.5, settings.AUTOSKILL_MIN_SCORE)

    assert top_score(user, "write a commit message")[0] == "commit-messages"
    assert top_score(user, "write a commit message")[1] >= 0.9
    assert top_score(user, "why is this sql query slow")[0] == "sql-query-reviewer"
    assert top_score(user, "why is this sql query slow")[1] >= 0.9
    for query in [*UNRELATED, candidate_query(release_candidate())]:
        assert top_score(user, query)[1] < low, query


def test_keyword_only_search_has_the_floor_too(user, on_commit, settings):
    """Without embeddings one shared word no longer makes the only skill certain."""
    commit_skill(user, on_commit)

    assert top_score(user, "write a commit message", embedder=None)[1] >= 0.5
    for query in ("write a poem about the sea", candidate_query(release_candidate())):
        assert top_score(user, query, embedder=None)[1] < 0.4, query


def test_an_unrelated_candidate_of_a_one_skill_user_is_added_not_merged(
    user, on_commit
):
    """The browser-test bug: the release process was merged into commit messages."""
    skill = commit_skill(user, on_commit)

    decision = decide(user=user, candidate=release_candidate(), llm=OfflineLLM())

    assert decision.action == "add", decision.record()
    assert decision.neighbours[0]["id"] == str(skill.pk)
    assert decision.neighbours[0]["score"] < 0.5


def test_a_same_capability_candidate_still_merges(user, on_commit):
    """The floor must not hide a real duplicate: the rules still merge it."""
    with on_commit():
        skill = make_skill(
            owner=user,
            title="Release process",
            name="release-checklist",
            description="Release procedure: regression, canary, monitor, full rollout.",
            triggers=["release process", "before each release"],
            tags=["release"],
            instructions="# Workflow\n1. Run regression\n2. Canary\n3. Monitor\n4. Full rollout",
        )

    decision = decide(user=user, candidate=release_candidate(), llm=OfflineLLM())

    assert (decision.action, decision.target_skill_id) == ("merge", str(skill.pk))


def test_background_is_embedded_once_per_signature():
    cache = BackgroundCache()
    small, large = HashingEmbedder(64), HashingEmbedder(128)

    first = cache.vectors(small)
    again = cache.vectors(HashingEmbedder(64))  # same signature, another instance
    other = cache.vectors(large)

    assert cache.batches == 2
    assert again is first
    assert first.shape == (len(BACKGROUND_SKILLS), 64)
    assert other.shape == (len(BACKGROUND_SKILLS), 128)


def test_concurrent_first_queries_embed_the_background_once():
    cache = BackgroundCache()
    embedder = HashingEmbedder(64)
    results: list[np.ndarray | None] = []
    start = threading.Barrier(8)

    def search() -> None:
        start.wait()
        results.append(cache.vectors(embedder))

    threads = [threading.Thread(target=search) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.batches == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_search_embeds_the_background_once(user, on_commit):
    commit_skill(user, on_commit)

    for query in ("write a commit message", *UNRELATED):
        skill_search(user=user, query=query, scope="user", top_k=1, min_score=0)

    assert background_cache.batches == 1


class PassagesFail(HashingEmbedder):
    """Queries embed, the background batch does not (a provider failing mid-way)."""

    def embed_passages(self, texts):  # noqa: ANN001, ANN201
        raise EmbeddingError("the provider is down")


def test_a_failed_background_degrades_to_no_floor(user, on_commit, monkeypatch):
    """No exception out of search; the failure is retried only after a pause."""
    commit_skill(user, on_commit)
    broken = PassagesFail()  # the same signature as the stored vectors

    result = skill_search(
        user=user, query="write a commit message", top_k=1, min_score=0, embedder=broken
    )

    assert result.mode == "hybrid" and result.hits[0].skill.name == "commit-messages"
    assert background_cache.vectors(HashingEmbedder()) is None  # not retried yet
    assert background_cache.batches == 1
    monkeypatch.setattr(background, "RETRY_AFTER_SECONDS", 0.0)
    assert background_cache.vectors(HashingEmbedder()) is not None
    assert background_cache.batches == 2


def test_background_cosine_is_the_third_best_and_needs_matching_dims():
    vectors = np.eye(4, dtype=np.float32)
    query = np.array([0.9, 0.5, 0.3, 0.1], dtype=np.float32)

    assert BACKGROUND_RANK == 3
    assert background_cosine(vectors=vectors, query_vector=query) == pytest.approx(0.3)
    assert background_cosine(vectors=None, query_vector=query) is None
    assert background_cosine(vectors=vectors[:, :3], query_vector=query) is None


def test_background_skills_cover_both_languages_and_many_domains():
    texts = [skill.title + skill.description for skill in BACKGROUND_SKILLS]
    chinese = [t for t in texts if any("\u4e00" <= ch <= "\u9fff" for ch in t)]

    assert 24 <= len(BACKGROUND_SKILLS) <= 40
    assert len(chinese) >= 10 and len(texts) - len(chinese) >= 10
    assert len({skill.title for skill in BACKGROUND_SKILLS}) == len(BACKGROUND_SKILLS)
