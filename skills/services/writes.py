"""Shared machinery of every skill write: locking, cleaning, identity, version rows."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from autoskill_site.exceptions import Conflict, InvalidInput, NotFound
from autoskill_site.sanitize import without_nul
from skills import mirror
from skills.documents import (
    clean_list,
    content_hash,
    content_of,
    examples_to_json,
    render_content,
)
from skills.files import check_files, file_manifest, files_replace, files_restore
from skills.identity import identity_key, qualified_identity_key
from skills.models import LIVE, Skill, SkillStatus, SkillVersion
from skills.naming import allocate_name, base_name
from skills.signals import scope_of, send_skills_changed
from skills.versioning import bump_patch, normalise_version

T = TypeVar("T")
TITLE_MAX = 300
WRITE_ATTEMPTS = 5


class ConcurrentModification(Exception):
    """Another writer allocated the same version number first; the write is retried."""


def retrying(operation: Callable[[], T]) -> T:
    """Run a write transaction again when a concurrent writer won a race it lost."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with transaction.atomic():
                return operation()
        except (ConcurrentModification, IntegrityError):
            if (
                attempt == WRITE_ATTEMPTS - 1
                or transaction.get_connection().in_atomic_block
            ):
                raise
    raise AssertionError("unreachable")


def lock_skill(skill_id: object) -> Skill:
    try:
        return Skill.objects.select_for_update().get(pk=skill_id)
    except (Skill.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound(f"No skill with id {skill_id}.") from exc


def clean_content(raw: Mapping[str, Any]) -> dict[str, Any]:
    raw = without_nul(dict(raw))
    title = " ".join(str(raw.get("title") or "").split())
    description = str(raw.get("description") or "").strip()
    if not title:
        title = " ".join(description.split())[:80]
    if not title or not description:
        raise InvalidInput("A skill needs a title and a description.")
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            f"The title is {len(title)} characters; the limit is {TITLE_MAX}."
        )
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata must be a JSON object.")
    return {
        "name": str(raw.get("name") or ""),
        "title": title,
        "description": description,
        "instructions": str(raw.get("instructions") or "").strip(),
        "version": normalise_version(raw.get("version")),
        "triggers": clean_list(raw.get("triggers")),
        "tags": clean_list(raw.get("tags")),
        "examples": examples_to_json(raw.get("examples") or ()),
        "metadata": dict(metadata),
    }


def identity_taken(*, skill: Skill, key: str) -> Skill | None:
    query = Skill.objects.filter(LIVE, identity_key=key).exclude(pk=skill.pk)
    query = (
        query.filter(owner_id=skill.owner_id)
        if skill.owner_id
        else query.filter(library_id=skill.library_id)
    )
    return query.only("pk", "name").order_by().first()


def assign_identity(skill: Skill, *, on_conflict: str) -> None:
    key = identity_key(description=skill.description, title=skill.title)
    if skill.status == SkillStatus.ARCHIVED:
        skill.identity_key = key
        return
    other = identity_taken(skill=skill, key=key)
    if other is None:
        skill.identity_key = key
    elif on_conflict == "qualify":
        skill.identity_key = qualified_identity_key(key, skill.pk)
    else:
        raise Conflict(
            f"A live skill with the same description already exists: {other.name} ({other.pk}).",
            extra={"existing_id": str(other.pk)},
        )


def write_version(
    *,
    skill: Skill,
    origin: str,
    author: Any,
    reason: str,
    manifest: Mapping[str, str],
    fresh: bool = False,
    job_id: uuid.UUID | None = None,
) -> SkillVersion:
    """Snapshot the locked skill as its next version; the number comes from a guarded update.

    A row inserted in this transaction (`fresh`) is invisible to other writers, so its
    version #1 needs no claim.
    """
    content = content_of(skill)
    number = 1 if fresh else skill.version_number + 1
    if (
        not fresh
        and Skill.objects.filter(
            pk=skill.pk, version_number=skill.version_number
        ).update(version_number=number)
        != 1
    ):
        raise ConcurrentModification(str(skill.pk))
    skill.version_number = number
    version = SkillVersion(
        skill=skill,
        number=number,
        status=skill.status,
        owner_label=owner_label(skill),
        files=dict(manifest),
        skill_md=render_content(
            skill_id=skill.pk, content=content, file_paths=manifest
        ),
        content_hash=skill.content_hash,
        origin=origin,
        author=author if getattr(author, "pk", None) else None,
        reason=reason[:2000],
        job_id=job_id,
        **content,
    )
    version.save()
    return version


def owner_label(skill: Skill) -> str:
    if skill.library_id:
        return f"library:{skill.library.slug}"
    return f"user:{skill.owner.get_username()}"


def save_and_version(
    *,
    skill: Skill,
    origin: str,
    author: Any,
    reason: str,
    manifest: Mapping[str, str],
    extra_scopes: tuple[str, ...] = (),
    job_id: uuid.UUID | None = None,
) -> Skill:
    skill.content_hash = content_hash(
        content=content_of(skill), files=manifest, status=skill.status
    )
    validate_fields(skill)
    skill.save()
    write_version(
        skill=skill,
        origin=origin,
        author=author,
        reason=reason,
        manifest=manifest,
        job_id=job_id,
    )
    after_commit(skill, extra_scopes=extra_scopes)
    return skill


def validate_fields(skill: Skill) -> None:
    """Run field validators; constraints are left to the database inside the transaction."""
    try:
        # owner/library are objects the caller already holds; re-checking them costs a query.
        skill.full_clean(
            exclude=["owner", "library"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        raise InvalidInput(
            validation_message(exc), extra={"fields": exc.message_dict}
        ) from exc


def validation_message(exc: ValidationError) -> str:
    parts = [
        f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
    ]
    return "Invalid skill: " + "; ".join(parts)


def after_commit(skill: Skill, *, extra_scopes: tuple[str, ...] = ()) -> None:
    """Tell indexes and the mirror after commit; bulk imports do both once per batch."""
    if mirror.is_deferred():
        return
    skill_id = skill.pk
    scopes = (
        scope_of(owner_id=skill.owner_id, library_id=skill.library_id),
        *extra_scopes,
    )
    transaction.on_commit(
        lambda: send_skills_changed(skill_ids=[skill_id], scopes=scopes)
    )
    transaction.on_commit(lambda: mirror.mirror_skill(skill_id))


def create_row(
    skill: Skill,
    *,
    files: Mapping[str, bytes],
    origin: str,
    author: Any,
    reason: str,
    job_id: uuid.UUID | None = None,
) -> Skill:
    check_files(files)
    manifest = {
        path: hashlib.sha256(bytes(data)).hexdigest() for path, data in files.items()
    }
    skill.content_hash = content_hash(
        content=content_of(skill), files=manifest, status=skill.status
    )
    validate_fields(skill)
    skill.version_number = 1
    skill.save(force_insert=True)
    if files:
        files_replace(skill=skill, files=files)
    write_version(
        skill=skill,
        origin=origin,
        author=author,
        reason=reason,
        manifest=manifest,
        fresh=True,
        job_id=job_id,
    )
    after_commit(skill)
    return skill


def parse_id(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip())
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a UUID skill id.") from exc


def apply_changes(
    skill: Skill,
    *,
    changes: Mapping[str, Any],
    origin: str,
    author: Any = None,
    reason: str = "",
    files: Mapping[str, bytes] | None = None,
    status: str | None = None,
    bump: bool = False,
    provenance: Mapping[str, Any] | None = None,
    confidence: float | None = None,
    manifest: Mapping[str, str] | None = None,
    job_id: uuid.UUID | None = None,
) -> Skill:
    before = content_of(skill)
    merged = clean_content({**before, **changes})
    if status is not None and status not in SkillStatus.values:
        raise InvalidInput(f"Unknown status {status!r}.")
    old_manifest = file_manifest(skill)
    if manifest is not None:
        files_restore(skill=skill, manifest=manifest)
        new_manifest = dict(manifest)
    elif files is not None:
        new_manifest = files_replace(skill=skill, files=files)
    else:
        new_manifest = old_manifest
    new_status = status or skill.status
    skill_was_archived = skill.status == SkillStatus.ARCHIVED
    if "name" in changes and merged["name"] != skill.name:
        merged["name"] = allocate_name(
            base=base_name(name=merged["name"], title=merged["title"]),
            owner_id=skill.owner_id,
            library=skill.library,
            exclude_id=skill.pk,
        )
    else:
        merged["name"] = skill.name
    unchanged = (
        merged == before and new_manifest == old_manifest and new_status == skill.status
    )
    if provenance is not None:
        skill.provenance = {**skill.provenance, **provenance}
    if confidence is not None:
        skill.confidence = confidence
    if unchanged:
        # Bookkeeping alone is not a new version of the skill.
        if provenance is not None or confidence is not None:
            skill.save(update_fields=["provenance", "confidence", "updated_at"])
        return skill
    if bump:
        merged["version"] = bump_patch(skill.version)
    for field, value in merged.items():
        setattr(skill, field, value)
    skill.status = new_status
    revived = new_status != SkillStatus.ARCHIVED and skill_was_archived
    if (
        revived
        or merged["description"] != before["description"]
        or merged["title"] != before["title"]
    ):
        assign_identity(skill, on_conflict="error")
    return save_and_version(
        skill=skill,
        origin=origin,
        author=author,
        reason=reason,
        manifest=new_manifest,
        job_id=job_id,
    )
