from __future__ import annotations

from pathlib import Path

import pytest
from skills_ref.validator import validate

from skills.mirror import UnsafePath, mirror_rebuild, safe_join, user_segment
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


def test_user_skill_is_mirrored_after_commit_and_passes_the_spec(
    user, store_dir, on_commit
):
    """The committed skill appears at Users/<user>/<slug>/ and passes skills-ref validate."""
    # when
    with on_commit():
        skill = make_skill(
            owner=user,
            title="Unit Test Writer",
            files={"scripts/gen.py": b"print('x')\n"},
        )
    # then
    folder = store_dir / "Users" / "alice" / "unit-test-writer"
    assert (folder / "scripts" / "gen.py").read_bytes() == b"print('x')\n"
    assert validate(folder) == []
    assert f'id: "{skill.pk}"' in (folder / "SKILL.md").read_text()


def test_library_skills_go_under_common(user, store_dir, on_commit):
    common = Library.objects.create(slug="common", name="Common")
    team = Library.objects.create(slug="team", name="Team")
    with on_commit():
        make_skill(library=common, title="Shared One")
        make_skill(library=team, title="Team One")
    assert (store_dir / "Common" / "shared-one" / "SKILL.md").is_file()
    assert (store_dir / "Common" / "team" / "team-one" / "SKILL.md").is_file()


def test_rename_moves_folder_and_archive_removes_it(user, store_dir, on_commit):
    with on_commit():
        skill = make_skill(owner=user, title="Old Name")
    with on_commit():
        skill_update(skill_id=skill.pk, name="new-name")
    user_dir = store_dir / "Users" / "alice"
    assert sorted(p.name for p in user_dir.iterdir()) == ["new-name"]
    with on_commit():
        skill_archive(skill_id=skill.pk)
    assert not user_dir.exists()


def test_removed_files_disappear_and_delete_cleans_tree(user, store_dir, on_commit):
    with on_commit():
        skill = make_skill(
            owner=user,
            title="Files",
            files={"scripts/a.py": b"a", "assets/b.txt": b"b"},
        )
    with on_commit():
        skill_update(skill_id=skill.pk, files={"scripts/a.py": b"a2"})
    folder = store_dir / "Users" / "alice" / "files"
    assert sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    ) == ["SKILL.md", "scripts/a.py"]
    with on_commit():
        skill_delete(skill_id=skill.pk)
    assert not (store_dir / "Users").exists() or not any(
        (store_dir / "Users").iterdir()
    )


def test_promotion_moves_folder_from_user_to_library(
    user, library, store_dir, on_commit
):
    with on_commit():
        skill = make_skill(owner=user, title="Promote Me")
    with on_commit():
        skill_promote(skill_id=skill.pk, library=library)
    # A promotion is a draft until a curator approves it: mirrored nowhere meanwhile.
    assert not (store_dir / "Users" / "alice").exists()
    assert not (store_dir / "Common" / "team" / "promote-me").exists()
    with on_commit():
        skill_set_status(skill_id=skill.pk, status="active")
    assert (store_dir / "Common" / "team" / "promote-me" / "SKILL.md").is_file()


def test_hostile_usernames_cannot_escape_the_root(
    django_user_model, store_dir, on_commit
):
    """A username like ../../x is mapped to a safe folder; nothing is written outside the root."""
    evil = django_user_model(username="../../x")
    evil.save()
    with on_commit():
        make_skill(owner=evil, title="Escape")
    assert user_segment("../../x", evil.pk) == f"user-{evil.pk}"
    assert (store_dir / "Users" / f"user-{evil.pk}" / "escape" / "SKILL.md").is_file()
    assert not (store_dir.parent.parent / "x").exists()
    with pytest.raises(UnsafePath):
        safe_join(store_dir, "..", "x")


def test_rebuild_reports_and_repairs_drift(user, store_dir, on_commit):
    """Rebuild restores missing and edited files and removes strays; --check only reports."""
    # given
    with on_commit():
        make_skill(owner=user, title="Alpha")
        make_skill(owner=user, title="Beta")
    alpha = store_dir / "Users" / "alice" / "alpha" / "SKILL.md"
    beta = store_dir / "Users" / "alice" / "beta" / "SKILL.md"
    alpha.write_text("tampered")
    beta.unlink()
    stray = store_dir / "Users" / "alice" / "ghost" / "SKILL.md"
    stray.parent.mkdir()
    stray.write_text("---\nname: ghost\n---\n")
    # when
    check = mirror_rebuild(check_only=True)
    # then
    assert check.changed == ["Users/alice/alpha/SKILL.md"]
    assert check.missing == ["Users/alice/beta/SKILL.md"]
    assert check.unexpected == ["Users/alice/ghost/SKILL.md"]
    assert alpha.read_text() == "tampered"
    # when
    fixed = mirror_rebuild()
    # then
    assert fixed.drift == 3 and mirror_rebuild(check_only=True).drift == 0
    assert beta.is_file() and not stray.parent.exists()
    assert validate(Path(alpha.parent)) == []


def test_mirror_writes_are_atomic_no_temp_files_left(user, store_dir, on_commit):
    with on_commit():
        make_skill(owner=user, title="Tidy")
    leftovers = [p for p in store_dir.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
