"""NUL characters never reach the database (PostgreSQL refuses them in text and JSON)."""

from __future__ import annotations

import pytest

from autoskill_site.sanitize import without_nul
from extraction.evidence import build_window
from skills.services import skill_create


def test_without_nul_cleans_nested_strings_and_keys():
    assert without_nul({"a\x00": ["x\x00y", ("z\x00",)], "n": 1}) == {
        "a": ["xy", ["z"]],
        "n": 1,
    }


@pytest.mark.django_db
def test_a_skill_with_nul_characters_is_stored_without_them(user):
    skill = skill_create(owner=user, title="Nul\x00 title", description="Has a \x00 NUL.",
                         instructions="# Goal\n\x00Do it.", triggers=["a\x00b"])  # fmt: skip
    skill.refresh_from_db()
    assert (skill.title, skill.description, skill.triggers) == (
        "Nul title",
        "Has a  NUL.",
        ["ab"],
    )
    assert "\x00" not in skill.instructions


def test_evidence_windows_drop_nul_characters():
    window = build_window([{"role": "user", "content": "always\x00 use pnpm"}])
    assert window.user_turns == ["always use pnpm"]
