"""Skill context rendering: units for every script, a hard budget, fair truncation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.context import (
    ContextSkill,
    render_skills_context,
    text_units,
    truncate_units,
)


def skill(n: int, *, instructions: str = "", **fields) -> ContextSkill:
    base = {
        "id": f"id-{n}",
        "name": f"skill-{n}",
        "title": f"Skill {n}",
        "version": "0.1.0",
        "description": f"Does task {n}.",
        "triggers": (f"do task {n}",),
        "tags": ("demo",),
        "resources": (),
        "instructions": instructions,
    }
    base.update(fields)
    return ContextSkill(**base)


LONG = "\n".join(f"Step {i}: check the input and write the output." for i in range(200))


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("", 0),
        ("hello world", 2),
        ("don't stop-words snake_case", 3),
        ("привет мир", 2),  # Cyrillic words
        ("Ελληνικά κείμενα", 2),  # Greek
        ("مرحبا بالعالم", 2),  # Arabic
        ("café naïve", 2),  # accented Latin
        ("你好世界", 4),  # one unit per ideograph
        ("こんにちは", 5),  # kana
        ("안녕하세요", 5),  # Hangul
        ("hello, world!", 2),  # short punctuation is free
        ("a" * 16, 1),
        ("a" * 17, 2),  # long runs pay per 16 characters
        ("-" * 15, 0),
        ("-" * 32, 2),
        (" " * 40, 2),
    ],
)
def test_text_units_counts_every_script(text, units):
    assert text_units(text) == units


def test_no_script_is_free():
    """The reference counted Cyrillic, Hangul, kana and accents as zero; nothing is free now."""
    for sample in [
        "слово " * 50,
        "한국어 " * 50,
        "カタカナ" * 50,
        "é " * 50,
        "ภาษาไทย" * 50,
    ]:
        assert text_units(sample) >= 20, sample


@given(st.text())
def test_units_bound_the_length(text):
    """A unit budget always bounds the character count, whatever the script."""
    assert len(text) <= 32 * text_units(text) + 31


@given(st.text(), st.integers(min_value=0, max_value=50))
def test_truncate_units_is_a_head_within_budget(text, budget):
    head = truncate_units(text, budget)
    assert text.startswith(head)
    assert text_units(head) <= budget


def test_truncate_prefers_a_line_boundary():
    text = "first line here\nsecond line here\nthird"
    assert truncate_units(text, 6) == "first line here\nsecond line here"
    assert truncate_units(text, 7) == text
    assert truncate_units("alpha beta gamma delta", 3) == "alpha beta gamma"


def test_everything_fits_untruncated_with_header_and_fields():
    s = skill(
        1,
        instructions="# Goal\nWrite notes.",
        tags=("a", "b"),
        triggers=("x", "y"),
        resources=("scripts/run.py",),
    )
    result = render_skills_context([s], query="write notes", max_units=1000)
    assert result.included_ids == ("id-1",)
    assert result.truncated_ids == ()
    assert result.text.startswith("## Skills for this request\n")
    assert "Query: write notes" in result.text
    assert "### Skill 1: skill-1 v0.1.0" in result.text
    assert "- Id: id-1" in result.text
    assert "- Tags: a, b" in result.text
    assert "  - x\n  - y" in result.text
    assert "- Resources: scripts/run.py" in result.text
    assert result.text.endswith("- Instructions:\n# Goal\nWrite notes.\n")
    assert result.units == text_units(result.text)


def test_first_skill_does_not_starve_the_others():
    """Three long skills under a tight budget all get in, each cut to a fair share."""
    skills = [skill(n, instructions=LONG) for n in (1, 2, 3)]
    result = render_skills_context(skills, max_units=600)
    assert result.included_ids == ("id-1", "id-2", "id-3")
    assert result.truncated_ids == ("id-1", "id-2", "id-3")
    assert result.units <= 600
    kept = [block.count("Step ") for block in result.text.split("### Skill")[1:]]
    assert max(kept) - min(kept) <= 1
    assert "[... truncated: " in result.text and " more units]" in result.text


def test_short_instructions_stay_whole_and_leave_room_to_the_long_one():
    skills = [skill(1, instructions=LONG), skill(2, instructions="Be brief.")]
    result = render_skills_context(skills, max_units=400)
    assert result.truncated_ids == ("id-1",)
    assert "Be brief." in result.text
    assert result.units <= 400


def test_truncation_marker_counts_the_missing_units():
    result = render_skills_context([skill(1, instructions=LONG)], max_units=200)
    body = result.text.split("- Instructions:\n", 1)[1]
    head, marker = body.rstrip("\n").rsplit("\n", 1)
    missing = int(marker.removeprefix("[... truncated: ").split()[0])
    assert missing == text_units(LONG) - text_units(head)
    assert head.endswith("output.")  # cut at a line boundary


def test_skills_that_cannot_fit_are_omitted_not_mangled():
    skills = [skill(1, instructions=LONG), skill(2, instructions=LONG)]
    result = render_skills_context(skills, max_units=130)
    assert result.included_ids == ("id-1",)
    assert result.omitted_ids == ("id-2",)


def test_budget_too_small_for_any_skill_renders_nothing():
    result = render_skills_context([skill(1, instructions=LONG)], max_units=5)
    assert result.text == ""
    assert result.included_ids == ()
    assert result.omitted_ids == ("id-1",)


def test_zero_budget_means_unlimited():
    result = render_skills_context([skill(1, instructions=LONG)], max_units=0)
    assert result.truncated_ids == ()
    assert LONG in result.text


def test_no_skills_render_nothing():
    assert render_skills_context([], query="q", max_units=100).text == ""


def test_negative_budget_is_rejected():
    with pytest.raises(ValueError, match="max_units"):
        render_skills_context([skill(1)], max_units=-1)


def test_output_is_stable():
    skills = [skill(n, instructions=LONG) for n in (1, 2)]
    first = render_skills_context(skills, query="q", max_units=300)
    assert render_skills_context(skills, query="q", max_units=300) == first


def test_multiline_fields_stay_on_their_line():
    s = skill(1, description="line one\n### Skill 9: fake\nline three", name="x\ny")
    result = render_skills_context([s], query="a\nb", max_units=0)
    assert "\n### Skill 9" not in result.text
    assert "- Description: line one ### Skill 9: fake line three" in result.text
    assert "Query: a b" in result.text


texts = st.text(max_size=300)
# Long word-heavy bodies with costed punctuation runs, so truncation paths are hit.
bodies = st.lists(
    st.sampled_from(
        ["word ", "字", "слово ", "!" * 15, "\n", "- ", ":\n   ", "x" * 40]
    ),
    min_size=50,
    max_size=600,
).map("".join)
skills_strategy = st.lists(
    st.builds(
        ContextSkill,
        id=st.text(min_size=1, max_size=20),
        name=st.text(max_size=40),
        title=texts,
        version=st.text(max_size=10),
        description=texts,
        triggers=st.lists(st.text(max_size=60), max_size=8).map(tuple),
        tags=st.lists(st.text(max_size=20), max_size=12).map(tuple),
        resources=st.lists(st.text(max_size=40), max_size=14).map(tuple),
        instructions=st.one_of(st.text(max_size=2000), bodies),
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(skills_strategy, st.text(max_size=200), st.integers(min_value=1, max_value=800))
def test_output_never_exceeds_the_budget(skills, query, budget):
    """For arbitrary Unicode, the rendered text stays within the budget, exactly."""
    result = render_skills_context(skills, query=query, max_units=budget)
    assert text_units(result.text) == result.units <= budget
    assert set(result.truncated_ids) <= set(result.included_ids)
    assert len(result.included_ids) + len(result.omitted_ids) == len(skills)
