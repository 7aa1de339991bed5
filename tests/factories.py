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


def make_staff(django_user_model: Any, name: str, *codenames: str) -> Any:
    """A staff user holding exactly the named `skills` permissions."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(
        username=name, password="pw-123456", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="skills", codename__in=codenames
        )
    )
    return user
