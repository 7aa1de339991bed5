"""LLM skill selection: the model may keep some, all or none; failures keep all."""

from __future__ import annotations

import json
import threading

import pytest

from retrieval.context import ContextSkill
from retrieval.selection import parse_selection, select_skills, selection_prompt

CANDIDATES = [
    ContextSkill(
        id=f"s{n}",
        name=f"skill-{n}",
        title=f"Skill {n}",
        description=f"Does task {n}.",
        triggers=(f"task {n}",),
        tags=("t",),
        resources=("scripts/run.py",),
        instructions="word " * 500,
    )
    for n in (1, 2, 3)
]


def run(selector, *, timeout=1.0, candidates=CANDIDATES):
    return select_skills(
        query="do task 2", candidates=candidates, selector=selector, timeout=timeout
    )


def test_selected_ids_come_back_in_candidate_order():
    result = run(lambda m: '{"selected": ["s3", "s1"], "reason": "both fit"}')
    assert result.selected_ids == ("s1", "s3")
    assert result.reason == "both fit"
    assert result.used_llm is True


def test_selecting_none_is_respected_even_for_a_sole_candidate():
    result = run(lambda m: '{"selected": []}', candidates=CANDIDATES[:1])
    assert result.selected_ids == ()
    assert result.used_llm is True
    assert result.reason == "none selected"


def test_unknown_and_repeated_ids_are_dropped():
    result = run(lambda m: '```json\n{"selected": ["s2", "ghost", "s2"]}\n```')
    assert result.selected_ids == ("s2",)
    assert "dropped 1 unknown id" in result.reason


@pytest.mark.parametrize(
    "output",
    [
        "I think s2 fits best.",
        '{"selected": "s2"',
        '{"skills": ["s2"]}',
        '{"selected": [{"id": "s2"}]}',
        '["s2"]',
        None,
        "x" * 50_000,
    ],
)
def test_malformed_output_keeps_all_candidates(output):
    result = run(lambda m: output)
    assert result.selected_ids == ("s1", "s2", "s3")
    assert result.used_llm is False
    assert "malformed" in result.reason


def test_exception_keeps_all_candidates():
    def broken(messages):
        raise RuntimeError("boom")

    result = run(broken)
    assert result.selected_ids == ("s1", "s2", "s3")
    assert result.reason == "selector failed (RuntimeError): kept all"


def test_timeout_keeps_all_candidates():
    release = threading.Event()

    def slow(messages):
        release.wait(5)
        return '{"selected": []}'

    try:
        result = run(slow, timeout=0.05)
    finally:
        release.set()
    assert result.selected_ids == ("s1", "s2", "s3")
    assert "timed out" in result.reason
    assert result.used_llm is False


def test_without_selector_or_candidates_nothing_is_asked():
    assert run(None).selected_ids == ("s1", "s2", "s3")
    assert run(None).used_llm is False
    assert run(lambda m: "{}", candidates=[]).selected_ids == ()


def test_parse_accepts_a_single_id_and_numbers():
    assert parse_selection('{"selected": "s1", "reason": 3}') == (["s1"], "")
    assert parse_selection('noise {"selected": [7]} noise') == (["7"], "")


def test_prompt_lists_candidates_with_short_previews():
    messages = selection_prompt("do task 2", CANDIDATES)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert '"selected"' in messages[0]["content"]
    data = json.loads(messages[1]["content"].split("\n", 1)[1])
    assert data["message"] == "do task 2"
    assert [c["id"] for c in data["candidates"]] == ["s1", "s2", "s3"]
    assert len(data["candidates"][0]["instructions_preview"]) < 400
