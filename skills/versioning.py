"""Semantic version strings for skills; merges bump the patch number."""

from __future__ import annotations

import re

_NUMBERS = re.compile(r"\d+")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]{1,40})?$")
DEFAULT_VERSION = "0.1.0"


def normalise_version(value: object) -> str:
    """Keep semantic versions; turn legacy forms (`1`, `2.0`, `v3`) into `major.minor.patch`."""
    text = str(value if value is not None else "").strip()
    if _SEMVER.match(text):
        return text
    numbers = [int(n) for n in _NUMBERS.findall(text)[:3]]
    if not numbers:
        return DEFAULT_VERSION
    while len(numbers) < 3:
        numbers.append(0)
    return ".".join(str(n) for n in numbers)


def bump_patch(value: object) -> str:
    """Next patch release; a pre-release suffix is dropped (`1.0.0-rc1` -> `1.0.1`)."""
    core = normalise_version(value).split("-")[0].split("+")[0]
    major, minor, patch = (int(n) for n in core.split("."))
    return f"{major}.{minor}.{patch + 1}"
