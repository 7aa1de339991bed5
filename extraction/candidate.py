"""The one shape a proposed skill takes, whoever proposed it (an LLM or the offline heuristic).

Validated with pydantic so a model's answer is either a clean candidate or a precise
list of what is wrong with it, which the single repair call is given verbatim.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Candidate", "CandidateError", "candidate_from_json", "ExtractionAnswer"]

MAX_TRIGGERS = 8
MAX_TAGS = 8
MAX_FILES = 16
MAX_FILE_CHARS = 20_000
_BUCKETS = ("scripts/", "references/", "assets/")
_SLUG = re.compile(r"[^a-z0-9]+")


class CandidateError(ValueError):
    """The model's answer is not a valid candidate; `str()` says why."""


def _clean_list(values: Any, limit: int) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\n;，；]", values)
    if not isinstance(values, list | tuple):
        return []
    seen: set[str] = set()
    cleaned: list[str] = []
    for value in values:
        text = " ".join(str(value).split()).strip(" -*#")
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            cleaned.append(text[:120])
    return cleaned[:limit]


def slugify(text: str) -> str:
    return _SLUG.sub("-", text.casefold()).strip("-")[:64].strip("-")


class Candidate(BaseModel):
    """A proposed skill. `instructions` is Markdown: # Goal, # Constraints & Style, # Workflow."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=1024)
    instructions: str = Field(min_length=1, max_length=40_000)
    triggers: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    files: dict[str, str] = Field(default_factory=dict)

    @field_validator("triggers", mode="before")
    @classmethod
    def _triggers(cls, value: Any) -> list[str]:
        return _clean_list(value, MAX_TRIGGERS)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str]:
        return _clean_list(value, MAX_TAGS)

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return 0.5
        return min(max(number, 0.0), 1.0)

    @field_validator("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> dict[str, str]:
        """Bundled files under scripts/, references/ or assets/ only; others dropped."""
        if not isinstance(value, dict):
            return {}
        files: dict[str, str] = {}
        for raw_path, content in value.items():
            path = str(raw_path).replace("\\", "/").lstrip("/")
            parts = [p for p in path.split("/") if p not in ("", ".", "..")]
            path = "/".join(parts)
            if not path.startswith(_BUCKETS) or len(parts) < 2:
                continue
            if not isinstance(content, str):
                continue
            files[path] = content[:MAX_FILE_CHARS]
            if len(files) >= MAX_FILES:
                break
        return files

    @property
    def slug(self) -> str:
        return slugify(self.name) or slugify(self.description) or "skill"

    def as_skill_fields(self) -> dict[str, Any]:
        """Keyword arguments for `skills.services.skill_create` / `skill_merge`."""
        return {
            "name": self.slug,
            "title": self.name
            if not _looks_like_slug(self.name)
            else _title(self.name),
            "description": self.description,
            "instructions": self.instructions,
            "triggers": self.triggers,
            "tags": self.tags,
        }


def _looks_like_slug(text: str) -> bool:
    return bool(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", text))


def _title(slug: str) -> str:
    return slug.replace("-", " ").strip().capitalize()


class ExtractionAnswer(BaseModel):
    """What the extraction prompt asks for: zero or one skill."""

    model_config = ConfigDict(extra="ignore")

    skills: list[Candidate] = Field(default_factory=list, max_length=1)


def candidate_from_json(data: Any) -> Candidate | None:
    """Validate a parsed answer: `{"skills": [...]}`, a bare list, or a bare skill object.

    `prompt` is accepted as an alias of `instructions` (the original's field name).
    Raises CandidateError with pydantic's field-by-field message.
    """
    if isinstance(data, list):
        data = {"skills": data}
    elif isinstance(data, dict) and "skills" not in data and "name" in data:
        data = {"skills": [data]}
    if not isinstance(data, dict):
        raise CandidateError("The answer must be a JSON object with a 'skills' list.")
    skills = data.get("skills")
    if isinstance(skills, list):
        skills = [_aliased(item) for item in skills[:1]]
        data = {**data, "skills": skills}
    try:
        answer = ExtractionAnswer.model_validate(data)
    except ValidationError as exc:
        raise CandidateError(_short(exc)) from exc
    return answer.skills[0] if answer.skills else None


def _aliased(item: Any) -> Any:
    if isinstance(item, dict) and not item.get("instructions") and item.get("prompt"):
        return {**item, "instructions": item["prompt"]}
    return item


def _short(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:8]:
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)
