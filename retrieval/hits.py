"""The full skills behind search hits, for rendering and selection.

A hit carries only what ranking needs; rendering needs instructions and resources.
They are cached by (skill id, content hash): the hash changes with every edit, so a
cached entry can never be stale, and the request path skips two queries per turn.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from retrieval.context import ContextSkill
from retrieval.search import SkillHit
from skills.models import Skill

_FIELDS = (
    "pk",
    "name",
    "title",
    "version",
    "description",
    "triggers",
    "tags",
    "instructions",
    "content_hash",
)


class _ContextCache:
    def __init__(self, size: int = 2048) -> None:
        self._items: OrderedDict[tuple[str, str], ContextSkill] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> ContextSkill | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str], skill: ContextSkill) -> None:
        if not key[1]:
            return
        with self._lock:
            self._items[key] = skill
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


context_cache = _ContextCache()


def _load(ids: list[str]) -> dict[str, tuple[str, ContextSkill]]:
    """One round trip: the skills joined with their file paths (a row per file)."""
    rows: dict[str, dict] = {}
    resources: dict[str, list[str]] = {}
    for row in Skill.objects.filter(pk__in=ids).values(*_FIELDS, "files__path"):
        skill_id = str(row["pk"])
        rows.setdefault(skill_id, row)
        if row["files__path"]:
            resources.setdefault(skill_id, []).append(row["files__path"])
    return {
        skill_id: (
            row["content_hash"] or "",
            ContextSkill(
                id=skill_id,
                name=row["name"],
                title=row["title"],
                version=row["version"],
                description=row["description"],
                triggers=tuple(str(t) for t in row["triggers"]),
                tags=tuple(str(t) for t in row["tags"]),
                resources=tuple(sorted(resources.get(skill_id, ()))),
                instructions=row["instructions"],
            ),
        )
        for skill_id, row in rows.items()
    }


def context_skills(hits: Sequence[SkillHit]) -> list[ContextSkill]:
    """The hits' full skills in rank order; deleted ones are skipped."""
    found: dict[str, ContextSkill] = {}
    missing = []
    for hit in hits:
        cached = context_cache.get((hit.skill.id, hit.skill.content_hash))
        if cached is not None:
            found[hit.skill.id] = cached
        else:
            missing.append(hit.skill.id)
    if missing:
        for skill_id, (content_hash, skill) in _load(missing).items():
            context_cache.put((skill_id, content_hash), skill)
            found[skill_id] = skill
    return [found[hit.skill.id] for hit in hits if hit.skill.id in found]


def hit_reference(hit: SkillHit) -> dict[str, object]:
    """A hit as extraction's identity context: who it is, never evidence."""
    return {
        "id": hit.skill.id,
        "name": hit.skill.name,
        "description": hit.skill.description,
        "scope": "library" if hit.skill.library_slug else "user",
        "score": round(float(hit.score), 4),
    }
