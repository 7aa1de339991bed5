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


def _taken_names(*, owner_id: int | None, library: Library | None, base: str, exclude_id: object) -> set[str]:
    prefix = base[: MAX_NAME - 4]
    query = Skill.objects.filter(name__startswith=prefix)
    query = query.filter(owner_id=owner_id) if owner_id else query.filter(library=library)
    if exclude_id is not None:
        query = query.exclude(pk=exclude_id)
    taken = set(query.values_list("name", flat=True))
    if library is not None and library.slug == common_library_slug():
        # Direct Common skills share the Common/ folder with library folders.
        taken |= set(Library.objects.values_list("slug", flat=True))
    return taken


def allocate_name(
    *, base: str, owner_id: int | None, library: Library | None, exclude_id: object = None
) -> str:
    """Return `base`, or `base-2`, `base-3`, ... whichever is free in the container."""
    taken = _taken_names(owner_id=owner_id, library=library, base=base, exclude_id=exclude_id)
    if base not in taken:
        return base
    counter = 2
    while True:
        suffix = f"-{counter}"
        candidate = base[: MAX_NAME - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        counter += 1
