"""Model rows to SDK dataclasses (in-process facade only; imports Django models)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autoskill.types import Skill, examples_from


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def skill_from_row(row: Any) -> Skill:
    """`row` is a skills.models.Skill with owner, library and files loaded."""
    owner = (
        f"library:{row.library.slug}"
        if row.library_id
        else (row.owner.get_username() if row.owner_id else "")
    )
    return Skill(
        id=str(row.pk),
        user_id=owner,
        name=row.name,
        title=row.title,
        description=row.description,
        instructions=row.instructions,
        triggers=tuple(str(t) for t in row.triggers or ()),
        tags=tuple(str(t) for t in row.tags or ()),
        examples=examples_from(row.examples or ()),
        version=row.version,
        status=row.status,
        resources=tuple(sorted(f.path for f in row.files.all())),
        metadata=dict(row.metadata or {}),
        created_at=_iso(row.created_at),
        updated_at=_iso(row.updated_at),
    )


def skills_by_id(ids: Iterable[str]) -> list[Skill]:
    """The skills with these ids, in the given order; deleted ones are left out."""
    from skills.models import Skill as SkillRow

    wanted = [str(i) for i in ids]
    rows = (
        SkillRow.objects.filter(pk__in=wanted)
        .select_related("owner", "library")
        .prefetch_related("files")
    )
    found = {str(row.pk): skill_from_row(row) for row in rows}
    return [found[i] for i in wanted if i in found]
