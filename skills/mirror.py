"""The on-disk SkillBank mirror: all filesystem writes for skills live here.

The database is the truth. After a change commits, the skill's folder is rewritten
from the latest SkillVersion; `mirror_rebuild` recreates the whole tree and reports
drift. Every file is written to a temporary name and renamed, so a crash never
leaves half a file, and every path is built from validated segments under the root.
A full or read-only disk never fails a write that already committed: the mirror
logs the error and falls behind until `rebuild_mirror` runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import F

USERS_DIR = "Users"
COMMON_DIR = "Common"
_USER_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,149}$")
_state = threading.local()
logger = logging.getLogger(__name__)


class UnsafePath(ValueError):
    """A path that would leave the SkillBank root."""


def store_root() -> Path:
    return Path(settings.AUTOSKILL_STORE_DIR)


def is_enabled() -> bool:
    return bool(getattr(settings, "AUTOSKILL_MIRROR_ENABLED", True))


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Skip per-skill mirror writes in this thread; the caller mirrors the batch itself."""
    previous = getattr(_state, "deferred", False)
    _state.deferred = True
    try:
        yield
    finally:
        _state.deferred = previous


def is_deferred() -> bool:
    return getattr(_state, "deferred", False)


@contextlib.contextmanager
def _behind_on_disk_errors(what: str) -> Iterator[None]:
    """Log a failed post-commit mirror write instead of raising it.

    These writes run from `transaction.on_commit`: raising would turn a saved change
    into an error for the user (and skip the remaining callbacks) although the
    database, the truth, already holds it. `rebuild_mirror --check` shows the drift.
    """
    try:
        yield
    except OSError as exc:
        logger.error(
            "SkillBank mirror fell behind the database (%s): %s. The change is saved; "
            "run `manage.py rebuild_mirror` once the disk is writable.",
            what,
            exc,
        )


@contextlib.contextmanager
def _locked(root: Path, *, shared: bool = False) -> Iterator[None]:
    """Serialise mirror writers across threads and processes sharing one root.

    A drift check (`shared`) opens the lock read-only and creates nothing, so it
    still works on the read-only disk whose drift it is meant to show.
    """
    if shared:
        try:
            handle = open(root / ".mirror.lock", "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            handle = None  # nothing was ever mirrored here
    else:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".mirror.lock", "a+b")  # noqa: SIM115 - closed below
    with handle or contextlib.nullcontext():
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def user_segment(username: str, user_id: int) -> str:
    """A folder name for a user that can never climb out of Users/."""
    return username if _USER_SEGMENT.match(username or "") else f"user-{user_id}"


def _checked_segment(segment: str) -> str:
    if (
        not segment
        or segment in (".", "..")
        or "/" in segment
        or "\\" in segment
        or "\x00" in segment
    ):
        raise UnsafePath(f"Unsafe path segment {segment!r}.")
    return segment


def safe_join(root: Path, *segments: str) -> Path:
    """Join validated segments and prove the result is still inside `root`."""
    path = root.joinpath(*(_checked_segment(s) for s in segments))
    resolved_root = root.resolve()
    if (
        not path.resolve().is_relative_to(resolved_root)
        or path.resolve() == resolved_root
    ):
        raise UnsafePath(f"{path} is outside the SkillBank root.")
    return path


def skill_segments(skill) -> tuple[str, ...]:  # noqa: ANN001 - a Skill row
    """Where a skill lives, relative to the root: Users/<user>/<slug> or Common/[<lib>/]<slug>."""
    from skills.naming import common_library_slug

    if skill.owner_id:
        return (
            USERS_DIR,
            user_segment(skill.owner.get_username(), skill.owner_id),
            skill.name,
        )
    if skill.library.slug == common_library_slug():
        return (COMMON_DIR, skill.name)
    return (COMMON_DIR, skill.library.slug, skill.name)


def atomic_write(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds it; return whether it was written."""
    try:
        if (
            path.is_file()
            and not path.is_symlink()
            and path.stat().st_size == len(data)
        ):
            if path.read_bytes() == data:
                return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def expected_trees(skills: list) -> dict[object, dict[str, bytes]]:
    """Every file of each skill folder (relative to the folder), in three queries in all."""
    from skills.models import SkillFile, SkillVersion

    ids = [skill.pk for skill in skills]
    trees: dict[object, dict[str, bytes]] = {
        skill.pk: {"SKILL.md": b""} for skill in skills
    }
    latest = SkillVersion.objects.filter(
        skill_id__in=ids, number=F("skill__version_number")
    )
    for skill_id, skill_md in latest.values_list("skill_id", "skill_md").iterator(
        chunk_size=500
    ):
        trees[skill_id]["SKILL.md"] = skill_md.encode("utf-8")
    files = SkillFile.objects.filter(skill_id__in=ids).values_list(
        "skill_id", "path", "blob__content"
    )
    for skill_id, path, content in files.iterator(chunk_size=200):
        trees[skill_id][path] = bytes(content)
    return trees


def _write_folder(folder: Path, tree: dict[str, bytes]) -> bool:
    changed = False
    for rel, data in tree.items():
        changed |= atomic_write(safe_join(folder, *rel.split("/")), data)
    changed |= _prune_folder(folder, keep=set(tree))
    return changed


def _prune_folder(folder: Path, *, keep: set[str]) -> bool:
    """Delete files in a skill folder that the skill no longer has."""
    removed = False
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.relative_to(folder).as_posix() not in keep:
                path.unlink()
                removed = True
        for dirname in dirnames:
            with contextlib.suppress(OSError):
                (Path(dirpath) / dirname).rmdir()  # only succeeds when empty
    return removed


def _remove_folder(root: Path, rel: str) -> None:
    if not rel:
        return
    try:
        folder = safe_join(root, *rel.split("/"))
    except UnsafePath:
        return
    if folder.is_symlink():
        folder.unlink()
    elif folder.is_dir():
        shutil.rmtree(folder)
    _remove_empty_parents(root, folder.parent)


def _remove_empty_parents(root: Path, folder: Path) -> None:
    keep = {root.resolve(), (root / USERS_DIR).resolve(), (root / COMMON_DIR).resolve()}
    while folder.resolve() not in keep and folder.resolve().is_relative_to(
        root.resolve()
    ):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _mirror_one(root: Path, skill, tree: dict[str, bytes]) -> str:  # noqa: ANN001 - a Skill row
    """Write or remove one folder; return the folder's new relative path ("" when removed)."""
    from skills.models import SkillStatus

    old = skill.mirror_path
    if skill.status != SkillStatus.ACTIVE:
        _remove_folder(root, old)
        new = ""
    else:
        segments = skill_segments(skill)
        new = "/".join(segments)
        _write_folder(safe_join(root, *segments), tree)
        if old and old != new:
            _remove_folder(root, old)
    return new


def mirror_skill(skill_id: object) -> None:
    """Bring one skill's folder in line with the database."""
    mirror_skills([skill_id])


def mirror_forget(rel_folder: str) -> None:
    """Remove the folder of a skill that no longer exists."""
    if not is_enabled() or not rel_folder:
        return
    root = store_root()
    with _behind_on_disk_errors(f"removing {rel_folder}"), _locked(root):
        _remove_folder(root, rel_folder)


def mirror_skills(skill_ids: Iterable[object], *, chunk: int = 200) -> None:
    """Bring the folders of these skills in line with the database (deleted ones are skipped)."""
    from skills.models import Skill

    if not is_enabled():
        return
    root = store_root()
    ids = list(dict.fromkeys(skill_ids))
    with _behind_on_disk_errors(f"writing {len(ids)} skill(s)"), _locked(root):
        for start in range(0, len(ids), chunk):
            skills = list(
                Skill.objects.select_related("owner", "library").filter(
                    pk__in=ids[start : start + chunk]
                )
            )
            trees = expected_trees(skills)
            moved = []
            for skill in skills:
                new = _mirror_one(root, skill, trees[skill.pk])
                if new != skill.mirror_path:
                    skill.mirror_path = new
                    moved.append(skill)
            Skill.objects.bulk_update(moved, ["mirror_path"], batch_size=200)


@dataclass
class MirrorReport:
    """What a rebuild found on disk compared with the database."""

    written: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skills: int = 0

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.changed) + len(self.unexpected)


def mirror_rebuild(*, check_only: bool = False) -> MirrorReport:
    """Recreate Users/ and Common/ from the database; report (and fix) every difference."""
    from skills.models import Skill, SkillStatus

    root = store_root()
    report = MirrorReport()
    with _locked(root, shared=check_only):
        expected_files: set[str] = set()
        skills = Skill.objects.filter(status=SkillStatus.ACTIVE).select_related(
            "owner", "library"
        )
        for chunk in chunks(skills.iterator(chunk_size=500), 500):
            trees = expected_trees(chunk)
            for skill in chunk:
                report.skills += 1
                _rebuild_one(
                    root,
                    skill,
                    trees[skill.pk],
                    report=report,
                    expected_files=expected_files,
                    check_only=check_only,
                )
        report.unexpected = _unexpected_files(root, expected_files)
        if not check_only:
            for rel in report.unexpected:
                path = root / rel
                if path.is_symlink() or path.is_file():
                    path.unlink()
                elif path.is_dir():
                    shutil.rmtree(path)
                _remove_empty_parents(root, path.parent)
            Skill.objects.exclude(status=SkillStatus.ACTIVE).exclude(
                mirror_path=""
            ).update(mirror_path="")
    return report


def chunks(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rebuild_one(
    root: Path,
    skill,
    tree: dict[str, bytes],
    *,
    report: MirrorReport,  # noqa: ANN001
    expected_files: set[str],
    check_only: bool,
) -> None:
    from skills.models import Skill

    segments = skill_segments(skill)
    folder = safe_join(root, *segments)
    rel_folder = "/".join(segments)
    for rel, data in tree.items():
        rel_path = f"{rel_folder}/{rel}"
        expected_files.add(rel_path)
        target = safe_join(folder, *rel.split("/"))
        if not target.is_file():
            report.missing.append(rel_path)
        elif target.read_bytes() != data:
            report.changed.append(rel_path)
        else:
            continue
        if not check_only:
            atomic_write(target, data)
            report.written.append(rel_path)
    if not check_only and skill.mirror_path != rel_folder:
        Skill.objects.filter(pk=skill.pk).update(mirror_path=rel_folder)


def _unexpected_files(root: Path, expected: set[str]) -> list[str]:
    unexpected = []
    for area in (USERS_DIR, COMMON_DIR):
        base = root / area
        if not base.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            for name in filenames + [
                d for d in dirnames if (Path(dirpath) / d).is_symlink()
            ]:
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                if rel not in expected and not name.startswith(".mirror"):
                    unexpected.append(rel)
    return sorted(unexpected)
