"""skill_merge_many: several skills of one owner folded into a survivor."""

from __future__ import annotations

import pytest

from autoskill_site.exceptions import Forbidden, InvalidInput, NotFound
from skills.files import file_manifest
from skills.models import Skill, SkillStatus, SkillVersion, VersionOrigin
from skills.services import skill_archive, skill_merge_many
from tests.concurrency import race
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def _snapshot() -> list[tuple]:
    """Every skill's state and every version row: what an aborted merge must not touch."""
    skills = list(
        Skill.objects.order_by("pk").values_list(
            "pk", "status", "version", "triggers", "tags", "instructions", "provenance"
        )
    )
    return [*skills, SkillVersion.objects.count()]


def test_survivor_gets_union_of_triggers_and_tags_and_a_patch_bump(user):
    """Triggers and tags are unioned in order, case-insensitively; version 0.1.0 -> 0.1.1."""
    # given
    survivor = make_skill(
        owner=user, triggers=["Write release notes", "changelog"], tags=["writing"]
    )
    other = make_skill(
        owner=user,
        triggers=["CHANGELOG", "draft the release summary"],
        tags=["Writing", "release"],
        instructions="Other body",
    )
    # when
    merged = skill_merge_many(
        survivor_id=survivor.pk, other_ids=[other.pk], author=user, reason="dupes"
    )
    # then
    assert merged.triggers == [
        "Write release notes",
        "changelog",
        "draft the release summary",
    ]
    assert merged.tags == ["writing", "release"]
    assert merged.instructions == survivor.instructions  # default: the survivor's
    assert merged.version == "0.1.1"
    version = merged.versions.first()
    assert (version.number, version.origin, version.author) == (
        2,
        VersionOrigin.MERGE,
        user,
    )
    assert str(other.pk) in version.reason and "dupes" in version.reason
    assert merged.provenance["merged_from"] == [str(other.pk)]


def test_others_are_archived_with_a_pointer_and_a_new_version(user):
    """Each merged skill is archived (never deleted) and points at the survivor."""
    # given
    survivor, b, c = (make_skill(owner=user) for _ in range(3))
    # when
    skill_merge_many(survivor_id=survivor.pk, other_ids=[b.pk, c.pk], author=user)
    # then
    for loser in (b, c):
        loser.refresh_from_db()
        assert loser.status == SkillStatus.ARCHIVED
        assert loser.provenance["merged_into"] == str(survivor.pk)
        last = loser.versions.first()
        assert (last.number, last.origin, last.status) == (
            2,
            VersionOrigin.MERGE,
            SkillStatus.ARCHIVED,
        )
        assert str(survivor.pk) in last.reason


def test_instructions_and_files_can_come_from_another_skill(user):
    """The chosen instructions win, and the files they refer to come along."""
    # given
    survivor = make_skill(
        owner=user,
        instructions="Keep it short.",
        files={"scripts/run.sh": b"old", "references/a.md": b"a"},
    )
    other = make_skill(
        owner=user,
        instructions="Run scripts/run.sh first.",
        files={"scripts/run.sh": b"new"},
    )
    # when
    merged = skill_merge_many(
        survivor_id=survivor.pk, other_ids=[other.pk], instructions_from=other.pk
    )
    # then
    assert merged.instructions == "Run scripts/run.sh first."
    assert file_manifest(merged) == file_manifest(other) | {
        "references/a.md": file_manifest(survivor)["references/a.md"]
    }


def test_merging_identical_skills_still_writes_a_merge_version(user):
    """Even when the others add nothing, the merge is recorded as a new version."""
    # given
    survivor = make_skill(owner=user)
    other = make_skill(owner=user, triggers=survivor.triggers, tags=survivor.tags)
    # when
    merged = skill_merge_many(survivor_id=survivor.pk, other_ids=[other.pk])
    # then
    assert merged.version_number == 2
    assert merged.versions.first().origin == VersionOrigin.MERGE


def test_library_skills_of_one_library_can_be_merged(library):
    a = make_skill(library=library)
    b = make_skill(library=library, triggers=["new trigger"])
    merged = skill_merge_many(survivor_id=a.pk, other_ids=[b.pk])
    assert "new trigger" in merged.triggers


def test_mixed_owners_are_refused_and_nothing_changes(user, other_user, library):
    """Skills of two users, or of a user and a library, are never merged."""
    # given
    mine = make_skill(owner=user)
    theirs = make_skill(owner=other_user)
    shared = make_skill(library=library)
    before = _snapshot()
    # when / then
    with pytest.raises(Forbidden, match="same owner"):
        skill_merge_many(survivor_id=mine.pk, other_ids=[theirs.pk])
    with pytest.raises(Forbidden, match="library team"):
        skill_merge_many(survivor_id=shared.pk, other_ids=[mine.pk])
    assert _snapshot() == before


def test_archived_skills_are_refused(user):
    """An archived skill must be restored before it can take part in a merge."""
    # given
    survivor, ok = make_skill(owner=user), make_skill(owner=user)
    gone = make_skill(owner=user)
    skill_archive(skill_id=gone.pk)
    before = _snapshot()
    # when
    with pytest.raises(InvalidInput, match="Archived"):
        skill_merge_many(survivor_id=survivor.pk, other_ids=[ok.pk, gone.pk])
    # then
    assert _snapshot() == before


def test_a_failure_after_the_others_were_archived_rolls_everything_back(user, settings):
    """One transaction: too many files for the survivor undoes the archiving too."""
    # given
    settings.AUTOSKILL_MAX_SKILL_FILES = 1
    survivor = make_skill(owner=user, files={"scripts/a.sh": b"a"})
    other = make_skill(owner=user, files={"scripts/b.sh": b"b"})
    before = _snapshot()
    # when
    with pytest.raises(InvalidInput, match="limit is 1"):
        skill_merge_many(survivor_id=survivor.pk, other_ids=[other.pk])
    # then
    assert _snapshot() == before
    assert Skill.objects.get(pk=other.pk).status == SkillStatus.ACTIVE


@pytest.mark.parametrize(
    "case",
    ["self", "twice", "empty", "foreign-instructions", "bad-id", "missing"],
)
def test_bad_selections_are_refused_with_a_message(user, case):
    survivor, other = make_skill(owner=user), make_skill(owner=user)
    stranger = make_skill(owner=user)
    kwargs = {
        "self": {"other_ids": [survivor.pk]},
        "twice": {"other_ids": [other.pk, other.pk]},
        "empty": {"other_ids": []},
        "foreign-instructions": {
            "other_ids": [other.pk],
            "instructions_from": stranger.pk,
        },
        "bad-id": {"other_ids": ["not-a-uuid"]},
        "missing": {"other_ids": ["00000000-0000-0000-0000-000000000001"]},
    }[case]
    before = _snapshot()
    error = NotFound if case == "missing" else InvalidInput
    with pytest.raises(error) as raised:
        skill_merge_many(survivor_id=survivor.pk, **kwargs)
    assert raised.value.message
    assert _snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_overlapping_merges_in_opposite_orders_do_not_deadlock(user):
    """Two curators merge the same three skills with different survivors at once:
    one merge wins whole, the other is refused, and no skill is half-merged."""
    # given
    a, b, c = (make_skill(owner=user) for _ in range(3))
    plans = [(a.pk, [c.pk, b.pk]), (c.pk, [b.pk, a.pk])]
    # when
    errors = race(
        lambda i, r: skill_merge_many(survivor_id=plans[i][0], other_ids=plans[i][1]),
        threads=2,
        rounds=1,
    )
    # then
    assert len(errors) == 1 and isinstance(errors[0], InvalidInput)
    rows = {s.pk: s for s in Skill.objects.all()}
    live = [s for s in rows.values() if s.status != SkillStatus.ARCHIVED]
    assert len(live) == 1
    survivor = live[0]
    assert survivor.version == "0.1.1"
    for skill in rows.values():
        if skill.pk != survivor.pk:
            assert skill.provenance["merged_into"] == str(survivor.pk)
