from __future__ import annotations

import pytest

from autoskill_site.exceptions import InvalidInput
from retrieval.generations import generation_bump, generations_read
from retrieval.index import index_cache
from retrieval.models import SkillEmbedding
from retrieval.search import skill_search
from skills.models import Library
from skills.services import (
    skill_archive,
    skill_delete,
    skill_promote,
    skill_set_status,
    skill_update,
)
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_index_cache():
    index_cache.clear()
    yield
    index_cache.clear()


def _ids(result) -> list[str]:
    return [hit.skill.id for hit in result.hits]


def _skills(on_commit, **owner):
    with on_commit():
        release = make_skill(
            title="Release notes writer",
            description="Write release notes with summary, breaking changes and migration steps.",
            triggers=["write release notes", "draft the changelog"],
            tags=["release", "changelog"],
            **owner,
        )
        sql = make_skill(
            title="SQL query reviewer",
            description="Review SQL queries for missing indexes and N+1 patterns.",
            triggers=["review my sql", "why is this query slow"],
            tags=["sql", "database"],
            instructions="Check EXPLAIN output first.",
            **owner,
        )
        zh = make_skill(
            title="论文降重",
            description="把学术段落改写以降低查重率，保留原意和术语。",
            triggers=["帮我把这段话降重", "论文查重太高"],
            tags=["写作", "论文"],
            **owner,
        )
    return release, sql, zh


def test_best_skill_ranks_first_in_english_and_chinese(user, on_commit):
    release, sql, zh = _skills(on_commit, owner=user)
    assert _ids(
        skill_search(
            user=user, query="please write the release notes", top_k=3, min_score=0
        )
    )[0] == str(release.pk)
    assert _ids(
        skill_search(user=user, query="this sql query is slow", top_k=3, min_score=0)
    )[0] == str(sql.pk)
    assert _ids(
        skill_search(
            user=user, query="这段话查重太高了，帮我降重", top_k=3, min_score=0
        )
    )[0] == str(zh.pk)


def test_embeddings_are_stored_after_commit_and_search_is_hybrid(user, on_commit):
    release, _, _ = _skills(on_commit, owner=user)
    assert SkillEmbedding.objects.filter(skill=release).count() == 1
    result = skill_search(user=user, query="write release notes", top_k=1, min_score=0)
    assert result.mode == "hybrid" and result.hits[0].vector_score is not None


def test_scores_are_calibrated_and_min_score_filters(user, on_commit):
    _skills(on_commit, owner=user)
    result = skill_search(user=user, query="write release notes", top_k=3, min_score=0)
    assert all(0.0 <= hit.score <= 1.0 for hit in result.hits)
    assert result.hits[0].score > result.hits[-1].score
    strict = skill_search(
        user=user, query="write release notes", top_k=3, min_score=result.hits[0].score
    )
    assert len(strict.hits) == 1
    nothing = skill_search(
        user=user, query="quantum chromodynamics lattice", top_k=3, min_score=0.5
    )
    assert nothing.hits == []


def test_keyword_only_mode_gives_the_same_scale(user, on_commit, settings):
    release, _, _ = _skills(on_commit, owner=user)
    result = skill_search(
        user=user, query="write release notes", top_k=1, min_score=0, embedder=None
    )
    assert result.mode == "keyword" and _ids(result) == [str(release.pk)]
    assert 0.0 < result.hits[0].score <= 1.0


def test_a_user_never_sees_another_users_skills(user, other_user, on_commit):
    """Scope isolation: other users' private skills are invisible on every scope."""
    _skills(on_commit, owner=other_user)
    for scope in ("user", "library", "all"):
        assert (
            skill_search(
                user=user,
                query="write release notes",
                scope=scope,
                top_k=5,
                min_score=0,
            ).hits
            == []
        )


def test_scopes_user_library_and_all(user, on_commit):
    library = Library.objects.create(slug="team", name="Team")
    with on_commit():
        own = make_skill(
            owner=user,
            title="Own deploy checklist",
            description="Deploy checklist for my app.",
            triggers=["deploy my app"],
        )
        shared = make_skill(
            library=library,
            title="Shared deploy checklist",
            description="Team deploy checklist.",
            triggers=["deploy the service"],
        )
    query = "deploy checklist"
    assert set(
        _ids(skill_search(user=user, query=query, scope="user", top_k=5, min_score=0))
    ) == {str(own.pk)}
    assert set(
        _ids(
            skill_search(user=user, query=query, scope="library", top_k=5, min_score=0)
        )
    ) == {str(shared.pk)}
    both = skill_search(user=user, query=query, scope="all", top_k=5, min_score=0)
    assert set(_ids(both)) == {str(own.pk), str(shared.pk)}
    assert {hit.skill.source for hit in both.hits} == {"user", "library:team"}
    assert (
        skill_search(user=user, query=query, scope="common", top_k=5, min_score=0).scope
        == "library"
    )


def test_changes_are_seen_through_the_generation_counter(user, on_commit):
    """Edits, archiving, deletion and promotion reach the index without a manual rebuild."""
    release, sql, _ = _skills(on_commit, owner=user)
    query = "kubernetes helm chart upgrade"
    assert skill_search(user=user, query=query, top_k=1, min_score=0.3).hits == []
    with on_commit():
        skill_update(
            skill_id=sql.pk,
            triggers=["upgrade the kubernetes helm chart"],
            title="Helm chart upgrader",
        )
    assert _ids(skill_search(user=user, query=query, top_k=1, min_score=0)) == [
        str(sql.pk)
    ]
    with on_commit():
        skill_archive(skill_id=sql.pk)
    assert str(sql.pk) not in _ids(
        skill_search(user=user, query=query, top_k=5, min_score=0)
    )
    with on_commit():
        skill_delete(skill_id=release.pk)
    assert str(release.pk) not in _ids(
        skill_search(user=user, query="write release notes", top_k=5, min_score=0)
    )


def test_promotion_moves_a_skill_between_scope_indexes(user, library, on_commit):
    release, _, _ = _skills(on_commit, owner=user)
    skill_search(
        user=user, query="release notes", top_k=1, min_score=0
    )  # warm both indexes
    with on_commit():
        skill_promote(skill_id=release.pk, library=library)
    hits = skill_search(
        user=user, query="write release notes", scope="user", top_k=5, min_score=0
    ).hits
    assert str(release.pk) not in [h.skill.id for h in hits]
    # A promotion is a draft until a curator approves it.
    with on_commit():
        skill_set_status(skill_id=release.pk, status="active")
    hits = skill_search(
        user=user, query="write release notes", scope="library", top_k=5, min_score=0
    ).hits
    assert hits[0].skill.id == str(release.pk)


def test_other_processes_notice_changes_without_rebuilding_every_query(
    user, on_commit, settings
):
    settings.AUTOSKILL_INDEX_CHECK_SECONDS = 3600
    _skills(on_commit, owner=user)
    skill_search(user=user, query="release", top_k=1, min_score=0)
    before = index_cache.get([f"user:{user.pk}"], signature="")[0]
    # within the check interval the same index object is reused
    assert index_cache.get([f"user:{user.pk}"], signature="")[0] is before
    generation_bump(scopes=[f"user:{user.pk}"])
    settings.AUTOSKILL_INDEX_CHECK_SECONDS = 0
    after = index_cache.get([f"user:{user.pk}"], signature="")[0]
    assert (
        after is not before
        and after.generation
        == generations_read(scopes=[f"user:{user.pk}"])[f"user:{user.pk}"]
    )


def test_bad_arguments_are_clear_errors(user):
    with pytest.raises(InvalidInput, match="scope"):
        skill_search(user=user, query="x", scope="everyone")
    with pytest.raises(InvalidInput, match="non-empty"):
        skill_search(user=user, query="   ")
    with pytest.raises(InvalidInput, match="top_k"):
        skill_search(user=user, query="x", top_k=0)
    with pytest.raises(InvalidInput, match="min_score"):
        skill_search(user=user, query="x", min_score=2)


@pytest.mark.django_db(transaction=True)
def test_big_scopes_rebuild_in_the_background_and_serve_the_old_index_meanwhile(
    user, settings
):
    """A query never waits for a large rebuild; the new generation replaces the old when ready."""
    import time

    from retrieval.index import IndexCache

    settings.AUTOSKILL_INDEX_BACKGROUND_MIN = 1
    cache = IndexCache()  # not the process-wide one other tests touch
    make_skill(owner=user, title="Alpha skill", triggers=["alpha task"])
    first = cache.get([f"user:{user.pk}"], signature="")[0]
    make_skill(owner=user, title="Beta skill", triggers=["beta task"])
    served = cache.get([f"user:{user.pk}"], signature="")[0]
    assert served is first  # stale but immediate
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = cache.get([f"user:{user.pk}"], signature="")[0]
        if len(current) == 2:
            break
        time.sleep(0.05)
    assert len(current) == 2 and current.generation > first.generation


def test_a_new_process_loads_the_saved_keyword_index_instead_of_tokenising(
    user, on_commit, settings, monkeypatch, store_dir
):
    from retrieval import index as index_module
    from retrieval.index import IndexCache

    settings.AUTOSKILL_INDEX_BACKGROUND_MIN = 1  # persist even this small scope
    release, _, _ = _skills(on_commit, owner=user)
    IndexCache().get([f"user:{user.pk}"], signature="")
    assert (store_dir / "index" / f"skills-bm25-user-{user.pk}.meta.json").is_file()
    # when: a fresh cache (a new process) builds the same generation
    monkeypatch.setattr(
        index_module, "keyword_tokens", lambda doc: pytest.fail("re-tokenised")
    )
    fresh = IndexCache().get([f"user:{user.pk}"], signature="")[0]
    # then
    assert len(fresh) == 3 and fresh.keyword is not None
    with on_commit():
        skill_update(skill_id=release.pk, title="Release notes author")
    monkeypatch.undo()
    rebuilt = IndexCache().get([f"user:{user.pk}"], signature="")[0]
    assert any(s.title == "Release notes author" for s in rebuilt.skills)
