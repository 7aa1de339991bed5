"""Reads of skills shared by the REST API, the browser pages and the chat commands.

Visibility rule, applied to every read and write: a caller sees their own skills and
every library skill. Library skills are read-only unless the caller is staff. Another
user's skill is "not found", exactly like an id that does not exist, so ids of other
people's skills cannot be probed.

Errors are the domain ones (`autoskill_site.exceptions`), so each entry point maps
them to its own vocabulary (OpenAI envelope, HTML page, chat notice).
"""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from autoskill_site.exceptions import Forbidden, InvalidInput, NotFound
from skills.documents import examples_to_json
from skills.models import Skill, SkillStatus, SkillVersion
from skills.skillmd import SkillMdError, parse_skill_md
from skills.skillmd_yaml import load_frontmatter, split_frontmatter
from skills.versioning import normalise_version

SCOPES = ("user", "library", "all")


def parse_skill_id(raw: object) -> uuid.UUID:
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except ValueError as exc:
        raise InvalidInput(f"{str(raw)[:80]!r} is not a skill id (a UUID).") from exc


def visible_skills(user: Any) -> QuerySet[Skill]:
    """Every skill `user` may read: their own and all library skills."""
    return Skill.objects.filter(
        Q(owner_id=user.pk, library__isnull=True) | Q(library__isnull=False)
    )


def can_write(user: Any, skill: Skill) -> bool:
    if skill.library_id is not None:
        return bool(user.is_staff)
    return skill.owner_id == user.pk


def skill_for_read(user: Any, raw_id: object, *, lock: bool = False) -> Skill:
    """The skill if `user` may see it; NotFound otherwise (existence never leaks)."""
    skill_id = parse_skill_id(raw_id)
    query = visible_skills(user).select_related("owner", "library")
    if lock:
        # of=("self",): the joined owner/library rows need no lock (PostgreSQL).
        query = query.select_for_update(of=("self",))
    skill = query.filter(pk=skill_id).first()
    if skill is None:
        raise NotFound(f"No skill with id {skill_id}.")
    return skill


def skill_for_write(user: Any, raw_id: object) -> Skill:
    """The locked skill if `user` may change it; call inside transaction.atomic()."""
    skill = skill_for_read(user, raw_id, lock=True)
    if not can_write(user, skill):
        raise Forbidden(
            f"Skill {skill.pk} belongs to library {skill.library.slug}; library skills "
            "are read-only (curators edit them)."
        )
    return skill


def current_skill_md(skill: Skill) -> str:
    """The SKILL.md of the skill's latest version (each version stores its rendering)."""
    text = (
        SkillVersion.objects.filter(skill_id=skill.pk, number=skill.version_number)
        .values_list("skill_md", flat=True)
        .first()
    )
    if text is None:
        raise NotFound(f"Skill {skill.pk} has no stored version.")
    return text


def unified_diff(
    *, before: str, after: str, before_label: str, after_label: str
) -> str:
    """A `diff -u` of two SKILL.md texts; empty when they are equal."""
    return "".join(
        difflib.unified_diff(
            _lines(before),
            _lines(after),
            fromfile=before_label,
            tofile=after_label,
        )
    )


def _lines(text: str) -> list[str]:
    # A last line without a newline would run into the next diff line.
    return (text if not text or text.endswith("\n") else text + "\n").splitlines(
        keepends=True
    )


def skill_list_queryset(*, user: Any, filters: dict[str, Any]) -> QuerySet[Skill]:
    """The caller's view of the skills, narrowed by the list filters.

    `scope` is one of SCOPES (callers resolve their own aliases); any other value
    reads as `all`, which is still limited to what the caller may see.
    """
    library = filters.get("library")
    # Naming a library implies the library scope unless a scope was chosen; filters
    # then combine with AND (scope=user&library=x is simply empty).
    scope = filters.get("scope") or ("library" if library else "user")
    if scope == "user":
        skills = Skill.objects.filter(owner_id=user.pk, library__isnull=True)
    elif scope == "library":
        skills = Skill.objects.filter(library__isnull=False)
    else:
        skills = visible_skills(user)
    if library:
        skills = skills.filter(library__slug=library)
    status = filters.get("status") or "live"
    if status == "live":
        skills = skills.exclude(status=SkillStatus.ARCHIVED)
    elif status != "any":
        skills = skills.filter(status=status)
    if filters.get("tag"):
        skills = skills.filter(_has_tag(filters["tag"].strip()))
    text = (filters.get("q") or "").strip()
    if text:
        skills = skills.filter(
            Q(name__icontains=text)
            | Q(title__icontains=text)
            | Q(description__icontains=text)
        )
    return skills.select_related("owner", "library").prefetch_related("files")


def _has_tag(tag: str) -> RawSQL | Q:
    """Exact tag match ignoring case, inside the JSON list column.

    Django's `tags__contains=[...]` is not available on SQLite and is case-sensitive
    on PostgreSQL, so each back end gets its JSON array function.
    """
    column = (
        f"{connection.ops.quote_name(Skill._meta.db_table)}."
        f"{connection.ops.quote_name('tags')}"
    )
    if connection.vendor == "sqlite":
        sql = f"EXISTS (SELECT 1 FROM json_each({column}) AS t WHERE lower(t.value) = lower(%s))"  # noqa: S608 - identifiers only
    elif connection.vendor == "postgresql":
        sql = f"EXISTS (SELECT 1 FROM jsonb_array_elements_text({column}) AS t(value) WHERE lower(t.value) = lower(%s))"  # noqa: S608 - identifiers only
    else:
        return Q(tags__icontains=f'"{tag}"')
    return RawSQL(sql, [tag], output_field=BooleanField())  # noqa: S611 - tag is a parameter


def fields_from_skill_md(text: str, *, skill: Skill | None = None) -> dict[str, Any]:
    """The skill fields a SKILL.md states; the file is the whole truth for them.

    `skill` is the skill being edited (None for a new one): its name is the fallback
    and an `id` in the file must be its id.
    """
    try:
        doc = parse_skill_md(text, fallback_name=skill.name if skill else "")
        head, _ = split_frontmatter(text.removeprefix("\ufeff"))
        frontmatter = load_frontmatter(head, first_line=2) if head else None
    except SkillMdError as exc:
        raise InvalidInput(f"SKILL.md: {exc}") from exc
    # The Agent Skills format requires a description; without one the text is not a
    # SKILL.md at all (a stray body would otherwise wipe the skill's description).
    if (
        not isinstance(frontmatter, dict)
        or not str(frontmatter.get("description") or "").strip()
    ):
        raise InvalidInput(
            "SKILL.md needs YAML frontmatter between '---' lines with at least a "
            "description (and usually a name)."
        )
    if skill is not None and doc.id and doc.id != str(skill.pk):
        raise InvalidInput(
            f"SKILL.md names skill id {doc.id[:80]!r}, but this is skill {skill.pk}; "
            "remove the id or edit the skill it names."
        )
    return {
        "name": doc.name,
        "title": doc.title,
        "description": doc.description or doc.title,
        "instructions": doc.instructions,
        "version": normalise_version(doc.version),
        "triggers": list(doc.triggers),
        "tags": list(doc.tags),
        "examples": examples_to_json(doc.examples),
        "metadata": dict(doc.extra),
    }


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff with its kind: add, del, hunk, file or ctx."""

    kind: str
    text: str


def diff_lines(diff: str) -> list[DiffLine]:
    """Classify each `diff -u` line so a template can colour it (the text stays escaped)."""
    rows = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        rows.append(DiffLine(kind, line))
    return rows
