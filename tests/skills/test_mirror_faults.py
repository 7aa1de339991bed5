"""A full or read-only SkillBank disk: the database stays the truth, the mirror heals.

Faults are injected at the operating-system boundary of skills/mirror.py only: a
full disk (ENOSPC) fails the data write of a file whose temporary name was already
created, a read-only file system (EROFS) fails the first file the mirror opens (its
lock). The skill write still commits and answers normally, the failure is logged, a
drift check sees the difference, and `rebuild_mirror` repairs it once the fault clears.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from skills import mirror
from skills.mirror import mirror_rebuild
from skills.models import Skill, SkillVersion
from skills.services import skill_delete, skill_update
from tests.factories import make_skill
from tests.proxy.api.skills_helpers import Api

pytestmark = pytest.mark.django_db
FOLDER = Path("Users") / "alice"


class _FullFile:
    """A file on a full disk: opening worked, every write fails."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class _FullDiskOs:
    """`os` as skills/mirror.py sees it on a full disk (everything else is the real os)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def fdopen(fd: int, *args: Any, **kwargs: Any) -> _FullFile:
        return _FullFile(os.fdopen(fd, *args, **kwargs))


def _read_only_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    """`open` on a read-only file system: reading works, any write mode fails."""
    if set(mode) & set("wax+"):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
    return open(file, mode, *args, **kwargs)


@pytest.fixture
def disk_fault() -> Iterator[Any]:
    """`disk_fault("ENOSPC" | "EROFS")` starts the fault; `disk_fault(None)` clears it."""
    patch = pytest.MonkeyPatch()  # its own, so clearing the fault undoes nothing else

    def inject(kind: str | None) -> None:
        patch.undo()
        if kind == "ENOSPC":
            patch.setattr(mirror, "os", _FullDiskOs())
        elif kind == "EROFS":
            # `_locked` opens the lock file with the builtin; a module global wins.
            patch.setattr(mirror, "open", _read_only_open, raising=False)

    yield inject
    patch.undo()


def _files(root: Path) -> list[str]:
    """Files of the skill folders (the store root also holds retrieval's caches)."""
    return sorted(
        p.relative_to(root).as_posix()
        for area in ("Users", "Common")
        for p in (root / area).rglob("*")
        if p.is_file()
    )


def _current_md(skill: Skill) -> bytes:
    skill.refresh_from_db()
    version = SkillVersion.objects.get(skill=skill, number=skill.version_number)
    return version.skill_md.encode("utf-8")


def _mirror_errors(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "skills.mirror" and r.levelno == logging.ERROR
    ]


@pytest.mark.parametrize("fault", ["ENOSPC", "EROFS"])
def test_a_new_skill_commits_and_the_rebuild_heals_the_missing_folder(
    user, store_dir, on_commit, disk_fault, caplog, fault
):
    # given: the disk fails
    disk_fault(fault)
    # when: a skill is created and its mirror write runs after commit
    with on_commit():
        skill = make_skill(owner=user, title="Release Notes")
    # then: the database has it, nothing was raised, the failure is logged
    assert Skill.objects.filter(pk=skill.pk).exists()
    errors = _mirror_errors(caplog)
    assert len(errors) == 1
    assert os.strerror(errno.ENOSPC if fault == "ENOSPC" else errno.EROFS) in errors[0]
    assert "rebuild_mirror" in errors[0]
    # no half-written or temporary file was left behind
    assert _files(store_dir) == []
    # a drift check sees the missing file, also from the command
    assert mirror_rebuild(check_only=True).missing == [
        f"{FOLDER}/release-notes/SKILL.md"
    ]
    with pytest.raises(CommandError, match="drifted"):
        call_command("rebuild_mirror", "--check")
    # when: the fault clears and the mirror is rebuilt
    disk_fault(None)
    call_command("rebuild_mirror")
    # then
    target = store_dir / FOLDER / "release-notes" / "SKILL.md"
    assert target.read_bytes() == _current_md(skill)
    assert mirror_rebuild(check_only=True).drift == 0
    skill.refresh_from_db()
    assert skill.mirror_path == f"{FOLDER}/release-notes"


def test_an_update_on_a_full_disk_keeps_the_old_file_whole(
    user, store_dir, on_commit, disk_fault, caplog
):
    """The rename-into-place write never truncates the mirrored file."""
    # given: a mirrored skill
    with on_commit():
        skill = make_skill(owner=user, title="Release Notes")
    target = store_dir / FOLDER / "release-notes" / "SKILL.md"
    before = target.read_bytes()
    # when: it is edited while the disk is full
    disk_fault("ENOSPC")
    with on_commit():
        skill_update(skill_id=skill.pk, description="Now with a migration section.")
    # then: version 2 is the truth, the file still holds version 1 intact
    assert SkillVersion.objects.filter(skill=skill).count() == 2
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["SKILL.md"]
    assert len(_mirror_errors(caplog)) == 1
    assert mirror_rebuild(check_only=True).changed == [
        f"{FOLDER}/release-notes/SKILL.md"
    ]
    # when / then: healed
    disk_fault(None)
    report = mirror_rebuild()
    assert report.written == [f"{FOLDER}/release-notes/SKILL.md"]
    assert target.read_bytes() == _current_md(skill)
    assert b"migration section" in target.read_bytes()


def test_a_delete_on_a_read_only_disk_leaves_a_folder_the_rebuild_removes(
    user, store_dir, on_commit, disk_fault, caplog
):
    # given
    with on_commit():
        skill = make_skill(owner=user, title="Release Notes")
    # when
    disk_fault("EROFS")
    with on_commit():
        skill_delete(skill_id=skill.pk)
    # then: gone from the database, still on disk, reported as unexpected
    assert not Skill.objects.filter(pk=skill.pk).exists()
    assert len(_mirror_errors(caplog)) == 1
    assert (store_dir / FOLDER / "release-notes" / "SKILL.md").is_file()
    assert mirror_rebuild(check_only=True).unexpected == [
        f"{FOLDER}/release-notes/SKILL.md"
    ]
    # when / then
    disk_fault(None)
    mirror_rebuild()
    assert _files(store_dir) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", ["ENOSPC", "EROFS"])
def test_an_api_write_on_a_failing_disk_answers_200_not_500(
    client, user, store_dir, disk_fault, caplog, fault
):
    """Committed for real (no test transaction), so the mirror runs inside the request."""
    # given
    skill = make_skill(owner=user, title="Release Notes")
    api = Api.for_user(user, client)
    md = api.get(f"/{skill.pk}/md").content.decode()
    assert "No emojis." in md
    # when
    disk_fault(fault)
    response = api.put_md(skill.pk, md.replace("No emojis.", "No emojis, ever."))
    # then
    assert response.status_code == 200, response.content
    assert response.json()["data"]["version_number"] == 2
    assert "No emojis, ever." in _current_md(skill).decode()
    assert len(_mirror_errors(caplog)) == 1
    assert mirror_rebuild(check_only=True).drift == 1
    disk_fault(None)
    mirror_rebuild()
    assert mirror_rebuild(check_only=True).drift == 0
