"""Import SKILL.md folders (spec, legacy AutoSkill, whole SkillBanks) into the store."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from autoskill_site.exceptions import ApplicationError
from skills import mirror
from skills.documents import content_of, examples_to_json
from skills.files import file_manifest
from skills.models import Library, Skill, VersionOrigin
from skills.naming import common_library_slug
from skills.reader import SkillFolder, SkillReadError, discover, read_folder
from skills.services import TITLE_MAX, library_get_or_create, skill_create, skill_update
from skills.signals import scope_of, send_skills_changed
from skills.versioning import normalise_version

IMPORT_NAMESPACE = uuid.UUID("6f0d3c2e-41a7-4a55-9a51-3c1f1c0f5a10")
BATCH_SIZE = 200


@dataclass
class ImportReport:
    """Outcome of one import run, printed by the command."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    libraries: set[str] = field(default_factory=set)
    files: int = 0
    seconds: float = 0.0
    sources: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def seen(self) -> int:
        return (
            len(self.created)
            + len(self.updated)
            + len(self.unchanged)
            + len(self.skipped)
            + len(self.errors)
        )


@dataclass(frozen=True)
class Target:
    """Where imported skills go: a user or a library."""

    owner: Any = None
    library: Library | None = None

    @property
    def label(self) -> str:
        return (
            f"library {self.library.slug}"
            if self.library
            else f"user {self.owner.get_username()}"
        )


@dataclass(frozen=True)
class ImportOptions:
    keep_ids: bool = False
    overwrite: bool = False
    include_files: bool = False
    max_depth: int = 6


def derived_id(*, target: Target, key: str) -> uuid.UUID:
    """A stable id for a skill without a usable one, so re-imports find it again."""
    container = (
        f"library:{target.library.slug}"
        if target.library
        else f"user:{target.owner.pk}"
    )
    return uuid.uuid5(IMPORT_NAMESPACE, f"{container}:{key}")


def _skill_id(
    folder: SkillFolder, *, target: Target, rel_key: str, keep_ids: bool
) -> tuple[uuid.UUID, str | None]:
    source_id = folder.document.id.strip()
    if keep_ids and source_id:
        try:
            return uuid.UUID(source_id), None
        except ValueError:
            return uuid.uuid5(IMPORT_NAMESPACE, f"source-id:{source_id}"), source_id
    return derived_id(target=target, key=rel_key), None


def _fields(
    folder: SkillFolder, *, source_id: str | None, source: str
) -> dict[str, Any]:
    doc = folder.document
    metadata = dict(doc.extra)
    title = " ".join(doc.title.split()) or doc.name
    if len(title) > TITLE_MAX:
        metadata["full_title"] = title
        title = title[: TITLE_MAX - 1] + "…"
    if source_id:
        metadata["source_id"] = source_id
    return {
        "name": doc.name,
        "title": title,
        "description": doc.description or title,
        "instructions": doc.instructions,
        "version": normalise_version(doc.version),
        "triggers": list(doc.triggers),
        "tags": list(doc.tags),
        "examples": examples_to_json(doc.examples),
        "metadata": metadata,
    }


@dataclass(frozen=True)
class _Parsed:
    folder: SkillFolder
    target: Target
    skill_id: uuid.UUID
    source_id: str | None


def _import_one(
    parsed: _Parsed,
    *,
    existing: Skill | None,
    options: ImportOptions,
    report: ImportReport,
) -> uuid.UUID | None:
    folder, target, skill_id = parsed.folder, parsed.target, parsed.skill_id
    source = str(folder.path)
    fields = _fields(folder, source_id=parsed.source_id, source=source)
    files = folder.files if options.include_files else None
    if existing is not None:
        if existing.owner_id != getattr(
            target.owner, "pk", None
        ) or existing.library_id != getattr(target.library, "pk", None):
            report.errors.append(
                (
                    source,
                    f"id {skill_id} already belongs to another owner; not imported",
                )
            )
            return None
        fields.pop("name")  # keep the folder name the skill already has
        before = existing.content_hash
        same_files = files is None or file_manifest(existing) == {
            path: hashlib.sha256(data).hexdigest() for path, data in files.items()
        }
        if content_of(existing) == {**content_of(existing), **fields} and same_files:
            report.unchanged.append(str(skill_id))
            return None
        if not options.overwrite:
            report.skipped.append(
                (
                    source,
                    f"exists as {existing.name} with other content; use --overwrite",
                )
            )
            return None
        updated = skill_update(
            skill_id=skill_id,
            origin=VersionOrigin.IMPORT,
            files=files,
            reason=f"Re-imported from {source}",
            **fields,
        )
        (report.updated if updated.content_hash != before else report.unchanged).append(
            str(skill_id)
        )
        return skill_id
    skill = skill_create(
        owner=target.owner,
        library=target.library,
        skill_id=skill_id,
        files=files,
        origin=VersionOrigin.IMPORT,
        reason=f"Imported from {source}",
        provenance={
            "kind": "import",
            "source": source,
            "format": folder.document.format,
        },
        on_identity_conflict="qualify",
        **fields,
    )
    if "~" in skill.identity_key:
        report.notes.append(
            (source, "same description as another live skill; kept as a separate skill")
        )
    report.created.append(str(skill.pk))
    report.files += len(folder.files)
    return skill.pk


def import_folders(
    folders: Iterable[tuple[Path, str, Target]],
    *,
    options: ImportOptions,
    report: ImportReport,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import (folder, relative key, target) triples in batches; one bad skill never stops the run."""
    started = time.perf_counter()
    batch: list[tuple[Path, str, Target]] = []
    for item in folders:
        batch.append(item)
        if len(batch) >= BATCH_SIZE:
            _import_batch(batch, options=options, report=report, progress=progress)
            batch = []
    if batch:
        _import_batch(batch, options=options, report=report, progress=progress)
    report.seconds += time.perf_counter() - started
    return report


def _import_batch(
    batch: list[tuple[Path, str, Target]],
    *,
    options: ImportOptions,
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> None:
    parsed: list[_Parsed] = []
    for path, rel_key, target in batch:
        try:
            folder = read_folder(
                path,
                include_files=options.include_files,
                max_file_bytes=settings.AUTOSKILL_MAX_FILE_BYTES,
                max_files=settings.AUTOSKILL_MAX_SKILL_FILES,
            )
        except SkillReadError as exc:
            report.errors.append((str(path), str(exc)))
            if progress:
                progress(1)
            continue
        report.notes.extend((str(path), note) for note in folder.notes)
        skill_id, source_id = _skill_id(
            folder, target=target, rel_key=rel_key, keep_ids=options.keep_ids
        )
        if skill_id in report.sources:
            report.errors.append(
                (
                    str(path),
                    f"id {skill_id} was already imported from {report.sources[skill_id]}",
                )
            )
            if progress:
                progress(1)
            continue
        report.sources[skill_id] = str(path)
        parsed.append(
            _Parsed(
                folder=folder, target=target, skill_id=skill_id, source_id=source_id
            )
        )
    existing = Skill.objects.in_bulk([item.skill_id for item in parsed])
    touched: list[uuid.UUID] = []
    with mirror.deferred(), transaction.atomic():
        for item in parsed:
            try:
                # Each service call runs in its own savepoint, so a failure undoes only this skill.
                skill_id = _import_one(
                    item,
                    existing=existing.get(item.skill_id),
                    options=options,
                    report=report,
                )
                if skill_id is not None:
                    touched.append(skill_id)
            except (ApplicationError, ValidationError) as exc:
                report.errors.append(
                    (str(item.folder.path), str(getattr(exc, "message", exc)))
                )
            if progress:
                progress(1)
    mirror.mirror_skills(touched)
    if touched:
        scopes = {
            scope_of(
                owner_id=item.target.owner and item.target.owner.pk,
                library_id=item.target.library and item.target.library.pk,
            )
            for item in parsed
        }
        send_skills_changed(skill_ids=touched, scopes=scopes)


def plan_tree(
    root: Path, *, target: Target, max_depth: int
) -> list[tuple[Path, str, Target]]:
    """Every skill folder under `root`, keyed by its path relative to the root."""
    plan = []
    for folder in discover(root, max_depth=max_depth):
        rel = folder.relative_to(root).as_posix() if folder != root else folder.name
        plan.append((folder, rel, target))
    return plan


_LIBRARY_SLUG_CHARS = re.compile(r"[^a-z0-9_-]+")


def library_slug_for(folder_name: str) -> str:
    slug = _LIBRARY_SLUG_CHARS.sub("-", folder_name.lower()).strip("-_")[:64]
    if not slug:
        slug = "library-" + uuid.uuid5(IMPORT_NAMESPACE, folder_name).hex[:8]
    return slug


def plan_skillbank(
    root: Path, *, max_depth: int, report: ImportReport
) -> list[tuple[Path, str, Target]]:
    """Map an original SkillBank: Users/<uid>/ to users, Common/ to libraries."""
    plan: list[tuple[Path, str, Target]] = []
    users_dir, common_dir = root / mirror.USERS_DIR, root / mirror.COMMON_DIR
    if not users_dir.is_dir() and not common_dir.is_dir():
        raise ApplicationError(
            f"{root} has neither Users/ nor Common/; is it a SkillBank?"
        )
    for entry in sorted(root.iterdir()):
        if (
            entry.name not in (mirror.USERS_DIR, mirror.COMMON_DIR)
            and entry.is_dir()
            and not entry.name.startswith(".")
        ):
            if any(discover(entry, max_depth=max_depth)):
                report.skipped.append(
                    (
                        str(entry),
                        "not part of the SkillBank layout; import it with --library",
                    )
                )
    if users_dir.is_dir():
        for user_dir in sorted(
            p for p in users_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            try:
                owner = _user_for(user_dir.name, report=report)
            except ValidationError as exc:
                report.errors.append(
                    (
                        str(user_dir),
                        f"user name {user_dir.name!r}: {' '.join(exc.messages)}",
                    )
                )
                continue
            plan.extend(
                plan_tree(user_dir, target=Target(owner=owner), max_depth=max_depth)
            )
    if common_dir.is_dir():
        common = library_get_or_create(slug=common_library_slug(), name="Common")
        for entry in sorted(
            p for p in common_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            if entry.is_symlink():
                report.skipped.append((str(entry), "symbolic link; not followed"))
            elif (entry / "SKILL.md").is_file():
                plan.append((entry, entry.name, Target(library=common)))
            else:
                library = library_get_or_create(
                    slug=library_slug_for(entry.name), name=entry.name
                )
                report.libraries.add(library.slug)
                plan.extend(
                    plan_tree(
                        entry, target=Target(library=library), max_depth=max_depth
                    )
                )
    return plan


def _user_for(username: str, *, report: ImportReport) -> Any:
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    user = User(username=username, is_active=False)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    report.users_created.append(username)
    return user
