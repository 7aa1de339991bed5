"""What the SDK returns: small frozen dataclasses, never Django model instances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SkillExample:
    input: str
    output: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Skill:
    """A stored skill. `user_id` is the owner, or `library:<slug>` for shared skills.

    `resources` lists the bundled files (scripts/, references/, assets/); their
    content comes with `export_skill_dir`, so a listing never reads every blob.
    """

    id: str
    user_id: str
    name: str
    description: str
    instructions: str
    title: str = ""
    triggers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    examples: tuple[SkillExample, ...] = ()
    version: str = "0.1.0"
    status: str = "active"
    resources: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Skill:
        """A skill from the REST API's skill object (summary or detail)."""
        source = str(data.get("source") or "user")
        owner = data.get("owner") or ""
        return cls(
            id=str(data["id"]),
            user_id=source if source.startswith("library:") else str(owner),
            name=str(data.get("name") or ""),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            instructions=str(data.get("instructions") or ""),
            triggers=tuple(data.get("triggers") or ()),
            tags=tuple(data.get("tags") or ()),
            examples=examples_from(data.get("examples") or ()),
            version=str(data.get("version") or ""),
            status=str(data.get("status") or "active"),
            resources=tuple(data.get("resource_paths") or ()),
            metadata=dict(data.get("metadata") or {}),
            created_at=data.get("created_at"),
            updated_at=data.get("updated_at"),
        )


def examples_from(raw: Any) -> tuple[SkillExample, ...]:
    return tuple(
        SkillExample(
            input=str(item.get("input") or ""),
            output=item.get("output"),
            notes=item.get("notes"),
        )
        for item in raw
        if isinstance(item, Mapping) and item.get("input")
    )


@dataclass(frozen=True)
class SkillHit:
    """One search result; `score` is the calibrated hybrid score in [0, 1]."""

    skill: Skill
    score: float
    rank: int = 0
    keyword_score: float = 0.0
    vector_score: float | None = None
