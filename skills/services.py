"""Every write to skills goes through here: one version row per change, mirror after commit."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from autoskill_site.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from skills import mirror
from skills.documents import (
    CONTENT_FIELDS,
    clean_list,
    content_hash,
    content_of,
    examples_to_json,
    render_content,
)
from skills.files import check_files, file_manifest, files_replace, files_restore
from skills.identity import identity_key, qualified_identity_key
from skills.models import LIVE, Library, Skill, SkillStatus, SkillVersion, VersionOrigin
from skills.naming import allocate_name, base_name
from skills.signals import skill_changed
from skills.versioning import bump_patch, normalise_version

T = TypeVar("T")
TITLE_MAX = 300
WRITE_ATTEMPTS = 5


class ConcurrentModification(Exception):
    """Another writer allocated the same version number first; the write is retried."""


def _retrying(operation: Callable[[], T]) -> T:
    """Run a write transaction again when a concurrent writer won a race it lost."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with transaction.atomic():
                return operation()
        except (ConcurrentModification, IntegrityError):
            if attempt == WRITE_ATTEMPTS - 1 or transaction.get_connection().in_atomic_block:
                raise
    raise AssertionError("unreachable")


def _lock(skill_id: object) -> Skill:
    try:
        return Skill.objects.select_for_update().get(pk=skill_id)
    except (Skill.DoesNotExist, ValidationError, ValueError) as exc:
        raise NotFound(f"No skill with id {skill_id}.") from exc


def _clean_content(raw: Mapping[str, Any]) -> dict[str, Any]:
    title = " ".join(str(raw.get("title") or "").split())
    description = str(raw.get("description") or "").strip()
    if not title:
        title = " ".join(description.split())[:80]
    if not title or not description:
        raise InvalidInput("A skill needs a title and a description.")
    if len(title) > TITLE_MAX:
        raise InvalidInput(f"The title is {len(title)} characters; the limit is {TITLE_MAX}.")
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


def _identity_taken(*, skill: Skill, key: str) -> Skill | None:
    query = Skill.objects.filter(LIVE, identity_key=key).exclude(pk=skill.pk)
    query = query.filter(owner_id=skill.owner_id) if skill.owner_id else query.filter(library_id=skill.library_id)
    return query.only("pk", "name").order_by().first()


def _assign_identity(skill: Skill, *, on_conflict: str) -> None:
    key = identity_key(description=skill.description, title=skill.title)
    if skill.status == SkillStatus.ARCHIVED:
        skill.identity_key = key
        return
    other = _identity_taken(skill=skill, key=key)
    if other is None:
        skill.identity_key = key
    elif on_conflict == "qualify":
        skill.identity_key = qualified_identity_key(key, skill.pk)
    else:
        raise Conflict(
            f"A live skill with the same description already exists: {other.name} ({other.pk}).",
            extra={"existing_id": str(other.pk)},
        )


def _write_version(
    *, skill: Skill, origin: str, author: Any, reason: str, manifest: Mapping[str, str], fresh: bool = False
) -> SkillVersion:
    """Snapshot the locked skill as its next version; the number comes from a guarded update.

    A row inserted in this transaction (`fresh`) is invisible to other writers, so its
    version #1 needs no claim.
    """
    content = content_of(skill)
    number = 1 if fresh else skill.version_number + 1
    if not fresh and Skill.objects.filter(
        pk=skill.pk, version_number=skill.version_number
    ).update(version_number=number) != 1:
        raise ConcurrentModification(str(skill.pk))
    skill.version_number = number
    version = SkillVersion(
        skill=skill,
        number=number,
        status=skill.status,
        owner_label=_owner_label(skill),
        files=dict(manifest),
        skill_md=render_content(skill_id=skill.pk, content=content, file_paths=manifest),
        content_hash=skill.content_hash,
        origin=origin,
        author=author if getattr(author, "pk", None) else None,
        reason=reason[:2000],
        **content,
    )
    version.save()
    return version


def _owner_label(skill: Skill) -> str:
    if skill.library_id:
        return f"library:{skill.library.slug}"
    return f"user:{skill.owner.get_username()}"


def _save_and_version(
    *, skill: Skill, origin: str, author: Any, reason: str, manifest: Mapping[str, str]
) -> Skill:
    skill.content_hash = content_hash(content=content_of(skill), files=manifest, status=skill.status)
    try:
        skill.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(_validation_message(exc), extra={"fields": exc.message_dict}) from exc
    skill.save()
    _write_version(skill=skill, origin=origin, author=author, reason=reason, manifest=manifest)
    _after_commit(skill.pk)
    return skill


def _validation_message(exc: ValidationError) -> str:
    parts = [f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
    return "Invalid skill: " + "; ".join(parts)


def _after_commit(skill_id: object) -> None:
    transaction.on_commit(lambda: skill_changed.send(sender=Skill, skill_id=skill_id))
    if not mirror.is_deferred():
        transaction.on_commit(lambda: mirror.mirror_skill(skill_id))


def skill_create(
    *,
    owner: Any = None,
    library: Library | None = None,
    title: str,
    description: str,
    instructions: str = "",
    name: str = "",
    triggers: Any = (),
    tags: Any = (),
    examples: Any = (),
    version: str = "0.1.0",
    status: str = SkillStatus.ACTIVE,
    metadata: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    confidence: float | None = None,
    files: Mapping[str, bytes] | None = None,
    skill_id: object = None,
    origin: str = VersionOrigin.MANUAL,
    author: Any = None,
    reason: str = "",
    on_identity_conflict: str = "error",
) -> Skill:
    """Create a skill and its version 1 in the user's or library's namespace."""
    if (owner is None) == (library is None):
        raise InvalidInput("A skill belongs to exactly one of: a user, a library.")
    if status not in SkillStatus.values:
        raise InvalidInput(f"Unknown status {status!r}.")
    content = _clean_content(
        {"name": name, "title": title, "description": description, "instructions": instructions,
         "version": version, "triggers": triggers, "tags": tags, "examples": examples,
         "metadata": metadata}
    )

    def create() -> Skill:
        skill = Skill(
            id=_parse_id(skill_id) if skill_id else uuid.uuid4(),
            owner=owner,
            library=library,
            status=status,
            provenance=dict(provenance or {}),
            confidence=confidence,
            **content,
        )
        skill.name = allocate_name(
            base=base_name(name=content["name"], title=content["title"], description=content["description"]),
            owner_id=getattr(owner, "pk", None),
            library=library,
        )
        _assign_identity(skill, on_conflict=on_identity_conflict)
        return _create_row(skill, files=files or {}, origin=origin, author=author, reason=reason)

    return _retrying(create)


def _create_row(skill: Skill, *, files: Mapping[str, bytes], origin: str, author: Any, reason: str) -> Skill:
    check_files(files)
    manifest = {path: hashlib.sha256(bytes(data)).hexdigest() for path, data in files.items()}
    skill.content_hash = content_hash(content=content_of(skill), files=manifest, status=skill.status)
    try:
        skill.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(_validation_message(exc), extra={"fields": exc.message_dict}) from exc
    skill.version_number = 1
    skill.save(force_insert=True)
    if files:
        files_replace(skill=skill, files=files)
    _write_version(skill=skill, origin=origin, author=author, reason=reason, manifest=manifest, fresh=True)
    _after_commit(skill.pk)
    return skill


def _parse_id(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip())
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a UUID skill id.") from exc


def skill_update(
    *,
    skill_id: object,
    author: Any = None,
    origin: str = VersionOrigin.MANUAL,
    reason: str = "",
    expected_version_number: int | None = None,
    bump: bool = False,
    files: Mapping[str, bytes] | None = None,
    status: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    confidence: float | None = None,
    **changes: Any,
) -> Skill:
    """Apply field changes as a new version; unchanged content writes nothing.

    `expected_version_number` turns the write into a compare-and-set, so an editor
    working from an old version gets a Conflict instead of silently overwriting.
    """
    unknown = set(changes) - set(CONTENT_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown skill fields: {', '.join(sorted(unknown))}.")

    def update() -> Skill:
        skill = _lock(skill_id)
        if expected_version_number is not None and skill.version_number != expected_version_number:
            raise Conflict(
                f"The skill changed since version #{expected_version_number} "
                f"(now #{skill.version_number}); reload and apply your edit again.",
                extra={"current_version_number": skill.version_number},
            )
        return _apply(
            skill, changes=changes, files=files, status=status, bump=bump, origin=origin,
            author=author, reason=reason, provenance=provenance, confidence=confidence,
        )

    return _retrying(update)


def _apply(
    skill: Skill,
    *,
    changes: Mapping[str, Any],
    files: Mapping[str, bytes] | None,
    status: str | None,
    bump: bool,
    origin: str,
    author: Any,
    reason: str,
    provenance: Mapping[str, Any] | None = None,
    confidence: float | None = None,
    manifest: Mapping[str, str] | None = None,
) -> Skill:
    before = content_of(skill)
    merged = _clean_content({**before, **changes})
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
            owner_id=skill.owner_id, library=skill.library, exclude_id=skill.pk,
        )
    else:
        merged["name"] = skill.name
    unchanged = merged == before and new_manifest == old_manifest and new_status == skill.status
    if unchanged and provenance is None:
        return skill
    if bump and not unchanged:
        merged["version"] = bump_patch(skill.version)
    for field, value in merged.items():
        setattr(skill, field, value)
    skill.status = new_status
    if provenance is not None:
        skill.provenance = {**skill.provenance, **provenance}
    if confidence is not None:
        skill.confidence = confidence
    revived = new_status != SkillStatus.ARCHIVED and skill_was_archived
    if revived or merged["description"] != before["description"] or merged["title"] != before["title"]:
        _assign_identity(skill, on_conflict="error")
    return _save_and_version(
        skill=skill, origin=origin, author=author, reason=reason, manifest=new_manifest
    )


def skill_merge(
    *,
    skill_id: object,
    incoming: Mapping[str, Any],
    author: Any = None,
    origin: str = VersionOrigin.MERGE,
    reason: str = "",
    files: Mapping[str, bytes] | None = None,
) -> Skill:
    """Fold new evidence into a skill and bump its patch version.

    The merge reads the locked row, so concurrent merges serialise and none is lost:
    list fields are unioned, non-empty scalar fields from `incoming` win.
    """

    def merge() -> Skill:
        skill = _lock(skill_id)
        changes: dict[str, Any] = {}
        for field in ("title", "description", "instructions"):
            value = str(incoming.get(field) or "").strip()
            if value:
                changes[field] = value
        for field in ("triggers", "tags"):
            changes[field] = clean_list([*getattr(skill, field), *(incoming.get(field) or [])])
        known = {e["input"].strip().casefold() for e in skill.examples}
        extra_examples = [e for e in examples_to_json(incoming.get("examples") or ()) if e["input"].strip().casefold() not in known]
        changes["examples"] = [*skill.examples, *extra_examples]
        if incoming.get("metadata"):
            changes["metadata"] = {**skill.metadata, **incoming["metadata"]}
        merged_files = None
        if files:
            from skills.files import file_contents

            merged_files = {**file_contents(skill), **files}
        return _apply(skill, changes=changes, files=merged_files, status=None, bump=True,
                      origin=origin, author=author, reason=reason)

    return _retrying(merge)


def skill_rollback(*, skill_id: object, to_number: int, author: Any = None, reason: str = "") -> Skill:
    """Restore the content and files of an earlier version as a new version."""

    def rollback() -> Skill:
        skill = _lock(skill_id)
        target = skill.versions.filter(number=to_number).first()
        if target is None:
            raise NotFound(f"Skill {skill.pk} has no version #{to_number}.")
        changes = content_of(target)
        changes["name"] = target.name
        result = _apply(
            skill, changes=changes, files=None, manifest=target.files, status=None, bump=False,
            origin=VersionOrigin.ROLLBACK, author=author,
            reason=reason or f"Rollback to #{target.number} (v{target.version})",
        )
        return result

    return _retrying(rollback)


def skill_set_status(*, skill_id: object, status: str, author: Any = None, reason: str = "") -> Skill:
    """Archive, activate or draft a skill; archiving never deletes anything."""

    def change() -> Skill:
        skill = _lock(skill_id)
        return _apply(skill, changes={}, files=None, status=status, bump=False,
                      origin=VersionOrigin.STATUS, author=author, reason=reason or f"Status -> {status}")

    return _retrying(change)


def skill_archive(*, skill_id: object, author: Any = None, reason: str = "") -> Skill:
    return skill_set_status(skill_id=skill_id, status=SkillStatus.ARCHIVED, author=author, reason=reason)


def skill_delete(*, skill_id: object) -> None:
    """Delete a skill with its history; the mirror folder goes after commit."""
    with transaction.atomic():
        skill = _lock(skill_id)
        folder = skill.mirror_path
        skill.delete()
        transaction.on_commit(lambda: skill_changed.send(sender=Skill, skill_id=skill_id))
        transaction.on_commit(lambda: mirror.mirror_forget(folder))


def skill_promote(*, skill_id: object, library: Library, author: Any = None, reason: str = "") -> Skill:
    """Move a user's skill into a shared library, keeping its id and history."""

    def promote() -> Skill:
        skill = _lock(skill_id)
        if skill.library_id is not None:
            raise Forbidden(f"Skill {skill.pk} already belongs to library {skill.library.slug}.")
        former_owner = skill.owner.get_username()
        skill.owner = None
        skill.library = library
        skill.name = allocate_name(base=skill.name, owner_id=None, library=library, exclude_id=skill.pk)
        _assign_identity(skill, on_conflict="error")
        skill.provenance = {**skill.provenance, "promoted_from_user": former_owner}
        return _save_and_version(
            skill=skill, origin=VersionOrigin.PROMOTION, author=author,
            reason=reason or f"Promoted from {former_owner} to library {library.slug}",
            manifest=file_manifest(skill),
        )

    return _retrying(promote)


def library_get_or_create(*, slug: str, name: str = "", description: str = "") -> Library:
    """Fetch or create a library, checking the slug against the naming rules."""
    library = Library.objects.filter(slug=slug).first()
    if library is not None:
        return library
    library = Library(slug=slug, name=name or slug, description=description)
    try:
        library.full_clean()
    except ValidationError as exc:
        raise InvalidInput(_validation_message(exc)) from exc
    try:
        with transaction.atomic():
            library.save()
    except IntegrityError:
        return Library.objects.get(slug=slug)
    return library
