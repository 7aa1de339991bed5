from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from autoskill_site.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from skills.models import Skill, SkillFile, SkillStatus, SkillVersion, VersionOrigin
from skills.services import (
    skill_archive,
    skill_create,
    skill_delete,
    skill_merge,
    skill_promote,
    skill_rollback,
    skill_set_status,
    skill_update,
)
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


def test_create_writes_version_one_with_rendered_skill_md(user):
    """A new skill gets version #1, 0.1.0, a spec slug and a SKILL.md snapshot."""
    # when
    skill = make_skill(owner=user, title="PDF Tables: Extract!")
    # then
    version = skill.versions.get()
    assert (version.number, skill.version, skill.name) == (
        1,
        "0.1.0",
        "pdf-tables-extract",
    )
    assert version.origin == VersionOrigin.MANUAL
    assert 'name: "pdf-tables-extract"' in version.skill_md
    assert version.content_hash == skill.content_hash


def test_owner_xor_library_is_enforced_by_service_and_database(user, library):
    """A skill belongs to exactly one of a user or a library, also at the database level."""
    with pytest.raises(InvalidInput):
        make_skill(owner=user, library=library)
    skill = make_skill(owner=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Skill.objects.filter(pk=skill.pk).update(library=library)


def test_name_collisions_get_numbered_suffixes(user, other_user):
    """Same title twice in one namespace gives -2; another user's namespace is separate."""
    first = make_skill(owner=user, title="Deploy checklist")
    second = make_skill(owner=user, title="Deploy checklist")
    third = make_skill(owner=other_user, title="Deploy checklist")
    assert (first.name, second.name, third.name) == (
        "deploy-checklist",
        "deploy-checklist-2",
        "deploy-checklist",
    )


def test_duplicate_live_description_is_a_conflict_but_archived_frees_it(user):
    """Identity keys are unique per owner among live skills only."""
    first = make_skill(owner=user, description="Summarise meetings as bullet points.")
    with pytest.raises(Conflict):
        make_skill(owner=user, description="summarise   MEETINGS as bullet points!")
    skill_archive(skill_id=first.pk)
    again = make_skill(owner=user, description="Summarise meetings as bullet points.")
    assert again.status == SkillStatus.ACTIVE


def test_identity_uniqueness_holds_in_the_database(user):
    """Bypassing the service cannot create two live skills with one identity key."""
    first = make_skill(owner=user)
    second = make_skill(owner=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Skill.objects.filter(pk=second.pk).update(identity_key=first.identity_key)


def test_update_creates_a_new_version_and_no_op_update_writes_nothing(user):
    skill = make_skill(owner=user)
    # when
    updated = skill_update(
        skill_id=skill.pk, instructions="Just the summary.", reason="shorter"
    )
    unchanged = skill_update(skill_id=skill.pk, instructions="Just the summary.")
    # then
    assert updated.version_number == 2 and unchanged.version_number == 2
    assert list(skill.versions.values_list("number", flat=True)) == [2, 1]
    assert skill.versions.get(number=2).reason == "shorter"


def test_update_with_stale_expected_version_is_refused(user):
    """An editor working from an old version gets a conflict, not a lost update."""
    skill = make_skill(owner=user)
    skill_update(skill_id=skill.pk, title="Changed elsewhere")
    with pytest.raises(Conflict):
        skill_update(skill_id=skill.pk, title="My edit", expected_version_number=1)
    assert Skill.objects.get(pk=skill.pk).title == "Changed elsewhere"


def test_merge_unions_lists_and_bumps_patch(user):
    skill = make_skill(
        owner=user, triggers=["write release notes"], tags=["writing"], version="0.1.9"
    )
    # when
    merged = skill_merge(
        skill_id=skill.pk,
        incoming={
            "triggers": ["Write Release Notes", "draft changelog"],
            "tags": ["docs"],
            "examples": [{"input": "notes for v2"}],
        },
        reason="new evidence",
    )
    # then
    assert merged.version == "0.1.10"
    assert merged.triggers == ["write release notes", "draft changelog"]
    assert merged.tags == ["writing", "docs"]
    assert merged.examples == [{"input": "notes for v2"}]
    assert merged.versions.first().origin == VersionOrigin.MERGE


def test_rollback_restores_content_and_files_as_a_new_version(user):
    """Rolling back appends a version equal to the old one; history is never rewritten."""
    skill = make_skill(
        owner=user, instructions="v1 text", files={"scripts/run.py": b"print(1)\n"}
    )
    skill_update(
        skill_id=skill.pk,
        instructions="v2 text",
        files={"references/notes.md": b"# n\n"},
    )
    # when
    rolled = skill_rollback(skill_id=skill.pk, to_number=1)
    # then
    assert rolled.instructions == "v1 text"
    assert rolled.version_number == 3
    assert list(
        SkillFile.objects.filter(skill=skill).values_list("path", flat=True)
    ) == ["scripts/run.py"]
    latest = rolled.versions.first()
    assert (
        latest.origin == VersionOrigin.ROLLBACK
        and latest.files == skill.versions.get(number=1).files
    )
    assert skill.versions.count() == 3


def test_rollback_to_missing_version_is_not_found(user):
    skill = make_skill(owner=user)
    with pytest.raises(NotFound):
        skill_rollback(skill_id=skill.pk, to_number=7)


def test_archive_and_reactivate_are_versions(user):
    skill = make_skill(owner=user)
    skill_archive(skill_id=skill.pk, reason="stale")
    active = skill_set_status(skill_id=skill.pk, status=SkillStatus.ACTIVE)
    assert active.status == SkillStatus.ACTIVE
    assert [v.status for v in active.versions.all()] == ["active", "archived", "active"]


def test_delete_removes_skill_and_history(user):
    skill = make_skill(owner=user)
    skill_delete(skill_id=skill.pk)
    assert not Skill.objects.filter(pk=skill.pk).exists()
    assert not SkillVersion.objects.filter(skill_id=skill.pk).exists()


def test_promote_moves_skill_into_library_keeping_id_and_history(user, library):
    skill = make_skill(owner=user)
    # when
    promoted = skill_promote(skill_id=skill.pk, library=library)
    # then
    assert (
        promoted.pk == skill.pk
        and promoted.owner_id is None
        and promoted.library == library
    )
    assert promoted.versions.first().origin == VersionOrigin.PROMOTION
    assert promoted.provenance["promoted_from_user"] == "alice"
    with pytest.raises(Forbidden):
        skill_promote(skill_id=skill.pk, library=library)


def test_versions_are_immutable(user):
    version = make_skill(owner=user).versions.get()
    version.reason = "rewritten"
    with pytest.raises(ValueError):
        version.save()


def test_files_outside_resource_roots_are_rejected(user):
    with pytest.raises(InvalidInput):
        make_skill(owner=user, files={"../etc/passwd": b"x"})
    with pytest.raises(InvalidInput):
        make_skill(owner=user, files={"notes.md": b"x"})


def test_oversized_file_is_rejected(user, settings):
    settings.AUTOSKILL_MAX_FILE_BYTES = 10
    with pytest.raises(InvalidInput):
        make_skill(owner=user, files={"assets/big.bin": b"x" * 11})


def test_bad_fields_give_clear_errors(user):
    with pytest.raises(InvalidInput, match="title and a description"):
        skill_create(owner=user, title="", description="")
    with pytest.raises(InvalidInput, match="Unknown skill fields"):
        skill_update(skill_id=make_skill(owner=user).pk, colour="red")
    with pytest.raises(NotFound):
        skill_update(skill_id="not-a-uuid", title="x")


def test_keeps_long_description_in_full(user):
    description = "Long description. " * 70
    skill = make_skill(owner=user, description=description)
    assert Skill.objects.get(pk=skill.pk).description == description.strip()
    assert description.strip() in skill.versions.get().skill_md


def test_provenance_only_change_is_not_a_new_version(user):
    skill = make_skill(owner=user)
    updated = skill_update(skill_id=skill.pk, provenance={"job": 7}, confidence=0.9)
    assert updated.version_number == 1 and skill.versions.count() == 1
    stored = Skill.objects.get(pk=skill.pk)
    assert stored.provenance["job"] == 7 and stored.confidence == 0.9
