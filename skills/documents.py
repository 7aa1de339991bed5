"""Translate between Skill rows and SkillDocument values (the pure SKILL.md format)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from skills.skillmd import Example, SkillDocument, normalise_list, render_skill_md

CONTENT_FIELDS = (
    "name",
    "title",
    "description",
    "instructions",
    "version",
    "triggers",
    "tags",
    "examples",
    "metadata",
)


def examples_to_json(examples: Iterable[Any]) -> list[dict[str, str]]:
    """Keep examples with an input, as plain dicts with only the non-empty keys."""
    cleaned = []
    for item in examples or ():
        if isinstance(item, Example):
            data = {"input": item.input, "output": item.output, "notes": item.notes}
        elif isinstance(item, Mapping):
            data = {k: item.get(k) for k in ("input", "output", "notes")}
        else:
            continue
        data = {k: str(v) for k, v in data.items() if v not in (None, "")}
        if data.get("input", "").strip():
            cleaned.append(data)
    return cleaned


def clean_list(values: object) -> list[str]:
    return list(normalise_list(values))


def document_for(
    *, skill_id: object, content: Mapping[str, Any], file_paths: Iterable[str]
) -> SkillDocument:
    return SkillDocument(
        name=content["name"],
        title=content["title"],
        description=content["description"],
        instructions=content["instructions"],
        version=content["version"],
        id=str(skill_id),
        tags=tuple(content["tags"]),
        triggers=tuple(content["triggers"]),
        examples=tuple(
            Example(
                input=e["input"], output=e.get("output", ""), notes=e.get("notes", "")
            )
            for e in content["examples"]
        ),
        files=tuple(sorted(file_paths)),
        extra=dict(content["metadata"]),
    )


def render_content(
    *, skill_id: object, content: Mapping[str, Any], file_paths: Iterable[str]
) -> str:
    return render_skill_md(
        document_for(skill_id=skill_id, content=content, file_paths=file_paths)
    )


def content_of(skill: Any) -> dict[str, Any]:
    """The versioned fields of a Skill (or SkillVersion) as a plain dict."""
    return {field: getattr(skill, field) for field in CONTENT_FIELDS}


def content_hash(
    *, content: Mapping[str, Any], files: Mapping[str, str], status: str
) -> str:
    payload = json.dumps(
        {"content": dict(content), "files": dict(files), "status": status},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
