"""Create, edit, merge, roll back, archive and delete skills; each change is a version."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from autoskill_site.exceptions import Conflict, InvalidInput, NotFound
from skills import mirror
from skills.documents import (
    CONTENT_FIELDS,
    clean_list,
    content_of,
    examples_to_json,
)
from skills.models import Library, Skill, SkillStatus, VersionOrigin
from skills.naming import allocate_name, base_name
from skills.services.writes import (
    apply_changes,
    assign_identity,
    clean_content,
    create_row,
    lock_skill,
    parse_id,
    retrying,
)
from skills.signals import scope_of, send_skills_changed


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
    job_id: uuid.UUID | None = None,
) -> Skill:
    """Create a skill and its version 1 in the user's or library's namespace."""
    if (owner is None) == (library is None):
        raise InvalidInput("A skill belongs to exactly one of: a user, a library.")
    if status not in SkillStatus.values:
        raise InvalidInput(f"Unknown status {status!r}.")
    content = clean_content(
        {
            "name": name,
            "title": title,
            "description": description,
            "instructions": instructions,
            "version": version,
            "triggers": triggers,
            "tags": tags,
            "examples": examples,
            "metadata": metadata,
        }
    )

    def create() -> Skill:
        skill = Skill(
            id=parse_id(skill_id) if skill_id else uuid.uuid4(),
            owner=owner,
            library=library,
            status=status,
            provenance=dict(provenance or {}),
            confidence=confidence,
            **content,
        )
        skill.name = allocate_name(
            base=base_name(
                name=content["name"],
                title=content["title"],
                description=content["description"],
            ),
            owner_id=getattr(owner, "pk", None),
            library=library,
        )
        assign_identity(skill, on_conflict=on_identity_conflict)
        return create_row(
            skill,
            files=files or {},
            origin=origin,
            author=author,
            reason=reason,
            job_id=job_id,
        )

    return retrying(create)


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
    job_id: uuid.UUID | None = None,
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
        skill = lock_skill(skill_id)
        if (
            expected_version_number is not None
            and skill.version_number != expected_version_number
        ):
            raise Conflict(
                f"The skill changed since version #{expected_version_number} "
                f"(now #{skill.version_number}); reload and apply your edit again.",
                extra={"current_version_number": skill.version_number},
            )
        return apply_changes(
            skill,
            changes=changes,
            files=files,
            status=status,
            bump=bump,
            origin=origin,
            author=author,
            reason=reason,
            provenance=provenance,
            confidence=confidence,
            job_id=job_id,
        )

    return retrying(update)


def skill_merge(
    *,
    skill_id: object,
    incoming: Mapping[str, Any],
    author: Any = None,
    origin: str = VersionOrigin.MERGE,
    reason: str = "",
    files: Mapping[str, bytes] | None = None,
    confidence: float | None = None,
    job_id: uuid.UUID | None = None,
) -> Skill:
    """Fold new evidence into a skill and bump its patch version.

    The merge reads the locked row, so concurrent merges serialise and none is lost:
    list fields are unioned, non-empty scalar fields from `incoming` win.
    """

    def merge() -> Skill:
        skill = lock_skill(skill_id)
        changes: dict[str, Any] = {}
        for field in ("title", "description", "instructions"):
            value = str(incoming.get(field) or "").strip()
            if value:
                changes[field] = value
        for field in ("triggers", "tags"):
            changes[field] = clean_list(
                [*getattr(skill, field), *(incoming.get(field) or [])]
            )
        known = {e["input"].strip().casefold() for e in skill.examples}
        extra_examples = [
            e
            for e in examples_to_json(incoming.get("examples") or ())
            if e["input"].strip().casefold() not in known
        ]
        changes["examples"] = [*skill.examples, *extra_examples]
        if incoming.get("metadata"):
            changes["metadata"] = {**skill.metadata, **incoming["metadata"]}
        merged_files = None
        if files:
            from skills.files import file_contents

            merged_files = {**file_contents(skill), **files}
        return apply_changes(
            skill,
            changes=changes,
            files=merged_files,
            bump=True,
            origin=origin,
            author=author,
            reason=reason,
            confidence=confidence,
            job_id=job_id,
        )

    return retrying(merge)


def skill_rollback(
    *, skill_id: object, to_number: int, author: Any = None, reason: str = ""
) -> Skill:
    """Restore the content and files of an earlier version as a new version."""

    def rollback() -> Skill:
        skill = lock_skill(skill_id)
        target = skill.versions.filter(number=to_number).first()
        if target is None:
            raise NotFound(f"Skill {skill.pk} has no version #{to_number}.")
        changes = content_of(target)
        changes["name"] = target.name
        return apply_changes(
            skill,
            changes=changes,
            manifest=target.files,
            origin=VersionOrigin.ROLLBACK,
            author=author,
            reason=reason or f"Rollback to #{target.number} (v{target.version})",
        )

    return retrying(rollback)


def skill_set_status(
    *, skill_id: object, status: str, author: Any = None, reason: str = ""
) -> Skill:
    """Archive, activate or draft a skill; archiving never deletes anything."""

    def change() -> Skill:
        skill = lock_skill(skill_id)
        return apply_changes(
            skill,
            changes={},
            status=status,
            origin=VersionOrigin.STATUS,
            author=author,
            reason=reason or f"Status -> {status}",
        )

    return retrying(change)


def skill_archive(*, skill_id: object, author: Any = None, reason: str = "") -> Skill:
    return skill_set_status(
        skill_id=skill_id, status=SkillStatus.ARCHIVED, author=author, reason=reason
    )


def skill_delete(*, skill_id: object) -> None:
    """Delete a skill with its history; the mirror folder goes after commit."""
    with transaction.atomic():
        skill = lock_skill(skill_id)
        folder = skill.mirror_path
        scope = scope_of(owner_id=skill.owner_id, library_id=skill.library_id)
        skill.delete()
        transaction.on_commit(
            lambda: send_skills_changed(skill_ids=[skill_id], scopes=[scope])
        )
        transaction.on_commit(lambda: mirror.mirror_forget(folder))
