"""Export skills as Agent Skills folders or one zip archive."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.db.models import QuerySet

from skills.mirror import (
    atomic_write,
    chunks,
    expected_trees,
    safe_join,
    skill_segments,
)
from skills.models import Skill

# Archives up to this size stay in memory; bigger ones spill to a temporary file.
SPOOL_BYTES = 8 << 20


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


def export_zip_write(skills: QuerySet[Skill], sink: IO[bytes], *, flat: bool) -> int:
    """Write the skills as one zip into the open binary file `sink`; count the files."""
    count = 0
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, data in export_entries(skills, flat=flat):
            archive.writestr(rel, data)
            count += 1
    return count


def export_zip_spooled(skills: QuerySet[Skill], *, flat: bool = True) -> IO[bytes]:
    """The zip in a rewound temporary file; the caller closes it (FileResponse does).

    Spooled rather than built in memory, so exporting a large collection cannot hold
    the whole archive in the worker's memory.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        export_zip_write(skills, spool, flat=flat)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def export_to_zip(skills: QuerySet[Skill], out: Path, *, flat: bool) -> int:
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("wb") as sink:
        count = export_zip_write(skills, sink, flat=flat)
    tmp.replace(out)
    return count
