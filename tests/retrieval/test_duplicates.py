"""near_duplicate_pairs: same-scope skill pairs above a similarity threshold."""

from __future__ import annotations

import pytest

from autoskill_site.exceptions import InvalidInput
from autoskill_site.providers.embeddings import HashingEmbedder
from retrieval import duplicates
from retrieval.duplicates import KEYWORDS, VECTOR, near_duplicate_pairs
from retrieval.embeddings import embeddings_refresh
from retrieval.models import SkillEmbedding
from skills.models import SkillStatus
from skills.services import skill_create, skill_update
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def _release(owner=None, library=None, **extra):
    fields = {
        "title": "Release notes",
        "description": "Write release notes with summary, breaking changes, migration.",
        "triggers": ["write release notes", "draft the changelog"],
        "tags": ["release", "writing"],
    }
    fields.update(extra)
    return make_skill(owner=owner, library=library, **fields)


def _sql(owner=None, **extra):
    fields = {
        "title": "Postgres index tuning",
        "description": "Choose btree or gin indexes from slow query plans.",
        "triggers": ["tune postgres indexes", "explain analyze is slow"],
        "tags": ["database"],
    }
    fields.update(extra)
    return make_skill(owner=owner, **fields)


def _embed() -> None:
    embeddings_refresh(embedder=HashingEmbedder(256))


def _ids(report) -> set[frozenset[str]]:
    return {frozenset((p.keep.id, p.other.id)) for p in report.pairs}


def test_similar_pair_is_listed_and_dissimilar_is_not(user):
    """Two release-notes skills pair up by vector similarity; the SQL skill does not."""
    # given
    a = _release(owner=user)
    b = _release(
        owner=user,
        title="Release notes writer",
        description="Write the release notes: summary, breaking changes, migration.",
    )
    c = _sql(owner=user)
    _embed()
    # when
    report = near_duplicate_pairs(threshold=0.6)
    # then
    assert _ids(report) == {frozenset((str(a.pk), str(b.pk)))}
    pair = report.pairs[0]
    assert pair.method == VECTOR and 0.6 <= pair.similarity <= 1.0
    assert pair.keep.scope == "user alice"
    assert str(c.pk) not in {pair.keep.id, pair.other.id}
    assert report.signature == HashingEmbedder(256).signature


def test_pairs_never_cross_owners_or_libraries(user, other_user, library):
    """The same text under two owners, or a user and a library, is not a duplicate."""
    # given
    _release(owner=user)
    _release(owner=other_user)
    _release(library=library)
    _embed()
    # when / then
    assert near_duplicate_pairs(threshold=0.5).pairs == []


def test_library_skills_pair_within_their_library(library):
    a = _release(library=library)
    b = _release(library=library, description="Write release notes for the team.")
    _embed()
    report = near_duplicate_pairs(threshold=0.5)
    assert _ids(report) == {frozenset((str(a.pk), str(b.pk)))}
    assert report.pairs[0].keep.scope == "library team"


def test_skills_without_vectors_fall_back_to_keyword_overlap(user):
    """With no stored vectors at all, name/title/trigger tokens decide."""
    # given
    a = _release(owner=user)
    b = _release(owner=user, description="Release notes, the team's way.")
    _sql(owner=user)
    assert not SkillEmbedding.objects.exists()
    # when
    report = near_duplicate_pairs(threshold=0.5)
    # then
    assert _ids(report) == {frozenset((str(a.pk), str(b.pk)))}
    assert report.pairs[0].method == KEYWORDS
    assert report.pairs[0].similarity == 1.0  # same name, title and triggers


def test_a_stale_vector_is_not_trusted(user):
    """A skill edited since its vector was computed is compared by keywords."""
    # given
    a = _release(owner=user)
    b = _sql(owner=user)
    _embed()
    # b now reads like a release-notes skill, but its stored vector is the SQL one
    skill_update(
        skill_id=b.pk,
        title="Release notes",
        triggers=["write release notes", "draft the changelog"],
    )
    # when
    report = near_duplicate_pairs(threshold=0.5)
    # then
    assert _ids(report) == {frozenset((str(a.pk), str(b.pk)))}
    assert report.pairs[0].method == KEYWORDS


def test_archived_skills_are_left_out_and_drafts_are_kept(user):
    a = _release(owner=user)
    draft = skill_create(
        owner=user,
        title="Release notes",
        description="Draft: write release notes.",
        triggers=["write release notes", "draft the changelog"],
        status=SkillStatus.DRAFT,
    )
    archived = _release(owner=user, description="Old release notes skill.")
    skill_update(skill_id=archived.pk, status=SkillStatus.ARCHIVED)
    report = near_duplicate_pairs(threshold=0.5, signature="")
    assert _ids(report) == {frozenset((str(a.pk), str(draft.pk)))}
    # the active skill is the suggested survivor
    assert report.pairs[0].keep.id == str(a.pk)


def test_limit_keeps_the_best_pairs_and_says_it_cut(user):
    """Three near-identical skills make three pairs; limit=1 keeps the top one."""
    # given
    for n in range(3):
        _release(owner=user, description=f"Release notes, variant {n}.")
    # when
    everything = near_duplicate_pairs(threshold=0.5, signature="")
    top = near_duplicate_pairs(threshold=0.5, limit=1, signature="")
    # then
    assert len(everything.pairs) == 3 and not everything.truncated
    assert len(top.pairs) == 1 and top.truncated
    assert top.pairs[0].similarity == max(p.similarity for p in everything.pairs)


def test_keyword_budget_bounds_the_work(user, monkeypatch):
    for n in range(4):
        _release(owner=user, description=f"Release notes, variant {n}.")
    monkeypatch.setattr(duplicates, "KEYWORD_BUDGET", 2)
    report = near_duplicate_pairs(threshold=0.5, signature="")
    assert len(report.pairs) == 2 and report.truncated


@pytest.mark.parametrize(
    ("threshold", "limit"), [(-0.1, 10), (1.5, 10), (0.5, 0), (0.5, 5000)]
)
def test_out_of_range_arguments_are_refused(threshold, limit):
    with pytest.raises(InvalidInput):
        near_duplicate_pairs(threshold=threshold, limit=limit)
