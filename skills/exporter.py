"""Export skills as Agent Skills folders or one zip archive."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.db.models import QuerySet

from skills.mirror import (
    atomic_write,
    chunks,
    expected_trees,
    safe_join,
    skill_segments,
)
from skills.models import Skill


def export_entries(
    skills: QuerySet[Skill], *, flat: bool
) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every exported file; flat puts each skill at <slug>/."""
    rows = skills.select_related("owner", "library").iterator(chunk_size=200)
    for chunk in chunks(rows, 200):
        trees = expected_trees(chunk)
        for skill in chunk:
            segments = (skill.name,) if flat else skill_segments(skill)
            for rel, data in trees[skill.pk].items():
                yield "/".join((*segments, rel)), data


def export_to_folder(skills: QuerySet[Skill], out: Path, *, flat: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for rel, data in export_entries(skills, flat=flat):
        atomic_write(safe_join(out, *rel.split("/")), data)
        count += 1
    return count


def export_to_zip(skills: QuerySet[Skill], out: Path, *, flat: bool) -> int:
    tmp = out.with_name(f".{out.name}.tmp")
    count = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, data in export_entries(skills, flat=flat):
            archive.writestr(rel, data)
            count += 1
    tmp.replace(out)
    return count
