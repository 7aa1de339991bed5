"""Signals sent by skills.services after a change commits (cache invalidation only)."""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

LIBRARY_SCOPE = "libraries"

# Sent after commit with `skill_ids` (list) and `scopes` (search scope keys whose
# content changed: "user:<id>" or "libraries"). Receivers must not do network I/O.
skills_changed = Signal()


def scope_of(*, owner_id: int | None, library_id: int | None) -> str:
    return f"user:{owner_id}" if owner_id else LIBRARY_SCOPE


def send_skills_changed(*, skill_ids: Iterable[object], scopes: Iterable[str]) -> None:
    skills_changed.send(
        sender=None, skill_ids=list(skill_ids), scopes=sorted(set(scopes))
    )
