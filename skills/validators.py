"""Field validators shared by models, services and the mirror."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from skills.skillmd import is_valid_slug

RESOURCE_ROOTS = ("scripts", "references", "assets")
_LIBRARY_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SEGMENT_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


def validate_skill_name(value: str) -> None:
    if not is_valid_slug(value):
        raise ValidationError(
            f"{value!r} is not a valid skill name: use lowercase letters, digits and "
            "single hyphens (no leading/trailing hyphen), at most 64 characters."
        )


def validate_library_slug(value: str) -> None:
    if not _LIBRARY_SLUG.match(value or ""):
        raise ValidationError(
            f"{value!r} is not a valid library slug: lowercase ASCII letters, digits, "
            "'-' or '_', starting with a letter or digit, at most 64 characters."
        )


def resource_path_problem(path: str) -> str | None:
    """Say why `path` cannot name a bundled file, or None when it can."""
    if not path or len(path) > 500:
        return "must be 1-500 characters"
    if path.startswith("/") or "\\" in path:
        return "must be a relative POSIX path"
    segments = path.split("/")
    if segments[0] not in RESOURCE_ROOTS:
        return f"must start with one of {', '.join(r + '/' for r in RESOURCE_ROOTS)}"
    if len(segments) < 2:
        return "must name a file inside its root folder"
    for segment in segments[1:]:
        if segment in ("", ".", "..") or segment.startswith("."):
            return "may not contain empty, '.', '..' or hidden segments"
        if _SEGMENT_FORBIDDEN.search(segment) or len(segment.encode()) > 255:
            return f"has an unusable segment {segment!r}"
    return None


def validate_resource_path(value: str) -> None:
    problem = resource_path_problem(value)
    if problem:
        raise ValidationError(f"File path {value!r} {problem}.")
