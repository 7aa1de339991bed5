"""Merge several skills of one owner into a survivor; the others are archived.

Curators use this to fold near-duplicates together. It differs from `skill_merge`
(which folds new extraction evidence into one skill): here every input is a stored
skill, all rows are locked, and the losers stay behind as archived pointers, so no
history is lost and a link to a merged skill still leads somewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings

from autoskill_site.exceptions import Forbidden, InvalidInput, NotFound
from skills.documents import clean_list
from skills.files import file_manifest
from skills.models import Skill, SkillStatus, VersionOrigin
from skills.services.writes import apply_changes, parse_id, retrying
from skills.versioning import bump_patch


def skill_merge_many(
    *,
    survivor_id: object,
    other_ids: Iterable[object],
    instructions_from: object = None,
    author: Any = None,
    reason: str = "",
) -> Skill:
    """Fold `other_ids` into the survivor and archive them, all in one transaction.

    The survivor gets the union of triggers, tags and examples, the instructions
    of `instructions_from` (default: its own) and a patch bump; each other skill is
    archived with `provenance["merged_into"]` naming the survivor.
    """
    survivor_pk, others = _parse_ids(survivor_id=survivor_id, other_ids=other_ids)
    source_pk = survivor_pk
    if instructions_from not in (None, ""):
        source_pk = parse_id(instructions_from)
        if source_pk != survivor_pk and source_pk not in others:
            raise InvalidInput(
                "The instructions must come from one of the skills being merged."
            )

    def merge() -> Skill:
        rows = _lock_all([survivor_pk, *others])
        skill_merge_check(skills=list(rows.values()))
        survivor = rows[survivor_pk]
        losers = [rows[pk] for pk in others]
        merged_note = ", ".join(str(pk) for pk in others)
        for loser in losers:
            apply_changes(
                loser,
                changes={},
                status=SkillStatus.ARCHIVED,
                provenance={"merged_into": str(survivor.pk)},
                origin=VersionOrigin.MERGE,
                author=author,
                reason=_with_reason(f"Merged into {survivor.pk}", reason),
            )
        everyone = [survivor, *losers]
        changes = {
            "triggers": clean_list([t for s in everyone for t in s.triggers]),
            "tags": clean_list([t for s in everyone for t in s.tags]),
            "examples": _union_examples(everyone),
            "instructions": rows[source_pk].instructions,
            # Set here rather than with bump=True: a merge is always a new version,
            # even when the others added nothing the survivor did not have.
            "version": bump_patch(survivor.version),
        }
        earlier = survivor.provenance.get("merged_from") or []
        return apply_changes(
            survivor,
            changes=changes,
            manifest=_union_manifest(first=rows[source_pk], everyone=everyone),
            provenance={"merged_from": [*earlier, *(str(pk) for pk in others)]},
            origin=VersionOrigin.MERGE,
            author=author,
            reason=_with_reason(f"Merged {merged_note} into this skill", reason),
        )

    return retrying(merge)


def _parse_ids(
    *, survivor_id: object, other_ids: Iterable[object]
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    survivor_pk = parse_id(survivor_id)
    others = [parse_id(raw) for raw in other_ids]
    if not others:
        raise InvalidInput(
            "Choose at least one other skill to merge into the survivor."
        )
    if survivor_pk in others:
        raise InvalidInput("A skill cannot be merged into itself.")
    if len(set(others)) != len(others):
        raise InvalidInput("The same skill was given twice; each may be merged once.")
    return survivor_pk, others


def _lock_all(ids: list[uuid.UUID]) -> dict[uuid.UUID, Skill]:
    """Lock every row in primary-key order, so two merges over overlapping skills
    queue behind each other instead of deadlocking."""
    rows = {
        skill.pk: skill
        for skill in Skill.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    missing = [str(pk) for pk in ids if pk not in rows]
    if missing:
        raise NotFound(f"No skill with id {', '.join(missing)}.")
    return rows


def skill_merge_check(*, skills: list[Skill]) -> None:
    """Raise the error a merge of `skills` would raise for their owners or status,
    so a confirmation page is never offered for a merge that cannot happen."""
    archived = [s.name for s in skills if s.status == SkillStatus.ARCHIVED]
    if archived:
        raise InvalidInput(
            f"Archived skills cannot be merged ({', '.join(sorted(archived))}); "
            "restore them first."
        )
    scopes = {(s.owner_id, s.library_id) for s in skills}
    if len(scopes) != 1:
        raise Forbidden(
            "Only skills of the same owner (or the same library) can be merged; "
            "the selection mixes "
            + ", ".join(sorted(_scope_label(s) for s in _one_per_scope(skills)))
            + "."
        )


def _one_per_scope(skills: list[Skill]) -> list[Skill]:
    seen: dict[tuple[object, object], Skill] = {}
    for skill in skills:
        seen.setdefault((skill.owner_id, skill.library_id), skill)
    return list(seen.values())


def _scope_label(skill: Skill) -> str:
    if skill.library_id:
        return f"library {skill.library.slug}"
    return f"user {skill.owner.get_username()}"


def _union_examples(skills: list[Skill]) -> list[dict[str, str]]:
    seen: set[str] = set()
    result = []
    for skill in skills:
        for example in skill.examples:
            key = example["input"].strip().casefold()
            if key not in seen:
                seen.add(key)
                result.append(example)
    return result


def _union_manifest(*, first: Skill, everyone: list[Skill]) -> dict[str, str]:
    """Every bundled file; on a path clash the instructions' own skill wins, since
    its instructions are the ones that refer to that file."""
    manifest: dict[str, str] = {}
    for skill in [first, *(s for s in everyone if s.pk != first.pk)]:
        for path, digest in file_manifest(skill).items():
            manifest.setdefault(path, digest)
    limit = settings.AUTOSKILL_MAX_SKILL_FILES
    if len(manifest) > limit:
        raise InvalidInput(
            f"The merged skill would bundle {len(manifest)} files; the limit is {limit}."
        )
    return manifest


def _with_reason(summary: str, reason: str) -> str:
    reason = reason.strip()
    return f"{summary}: {reason}" if reason else summary
