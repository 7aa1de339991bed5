"""Allocate spec names (folder slugs) that are unique inside a skill's container."""

from __future__ import annotations

from django.conf import settings

from skills.models import Library, Skill
from skills.skillmd import slugify

MAX_NAME = 64


def common_library_slug() -> str:
    """The library whose skills mirror directly under Common/<slug>/."""
    return getattr(settings, "AUTOSKILL_COMMON_LIBRARY", "common")


def base_name(*, name: str = "", title: str = "", description: str = "") -> str:
    return slugify(name) or slugify(title) or slugify(description[:200]) or "skill"


def _container(*, owner_id: int | None, library: Library | None, exclude_id: object):
    query = (
        Skill.objects.filter(owner_id=owner_id)
        if owner_id
        else Skill.objects.filter(library=library)
    )
    return query.exclude(pk=exclude_id) if exclude_id is not None else query


def _candidates(base: str, start: int, count: int) -> list[str]:
    names = [base] if start == 1 else []
    for counter in range(max(start, 2), start + count):
        suffix = f"-{counter}"
        names.append(base[: MAX_NAME - len(suffix)].rstrip("-") + suffix)
    return names


def allocate_name(
    *,
    base: str,
    owner_id: int | None,
    library: Library | None,
    exclude_id: object = None,
) -> str:
    """Return `base`, or `base-2`, `base-3`, ... whichever is free in the container.

    Candidates are checked in small batches with exact (indexed) lookups, so a free
    name costs one query however many skills the container holds.
    """
    existing = _container(owner_id=owner_id, library=library, exclude_id=exclude_id)
    is_common = library is not None and library.slug == common_library_slug()
    start, batch = 1, 1
    while True:
        names = _candidates(base, start, batch)
        taken = set(existing.filter(name__in=names).values_list("name", flat=True))
        if is_common:
            # Direct Common skills share the Common/ folder with library folders.
            taken |= set(
                Library.objects.filter(slug__in=names).values_list("slug", flat=True)
            )
        for name in names:
            if name not in taken:
                return name
        start += batch
        batch = min(batch * 4, 256)
