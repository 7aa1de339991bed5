"""Test data made through the services, so it obeys the same invariants as real data."""

from __future__ import annotations

import itertools
from typing import Any

from skills.models import Skill
from skills.services import skill_create

_counter = itertools.count(1)


def make_skill(**overrides: Any) -> Skill:
    n = next(_counter)
    fields: dict[str, Any] = {
        "title": f"Release notes {n}",
        "description": f"Write release notes in the team format, variant {n}.",
        "instructions": "# Goal\nSummary, breaking changes, migration.\n\n# Constraints\n- No emojis.",
        "triggers": ["write release notes", "changelog"],
        "tags": ["writing", "release"],
    }
    fields.update(overrides)
    return skill_create(**fields)
