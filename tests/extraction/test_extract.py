"""Extraction through a real client and a fake model server: JSON mode, one repair, no leaks."""

from __future__ import annotations

import pytest

from extraction.candidate import CandidateError, candidate_from_json
from extraction.evidence import build_window
from extraction.extract import MalformedAnswer, extract_candidate, parse_json_answer
from tests.extraction.llm_fixtures import RELEASE_SKILL, reply_json, sent_messages
from tests.extraction.secret_samples import SECRET_SAMPLES, assert_no_secrets

CONVERSATION = [
    {"role": "user", "content": "How do we ship v2?"},
    {
        "role": "assistant",
        "content": "I suggest a 12-point checklist with a staging soak.",
    },
    {
        "role": "user",
        "content": "Before each release: run regression -> canary -> monitor -> full rollout.",
    },
]


def test_a_valid_answer_becomes_one_candidate_and_json_mode_is_requested(
    fake_openai, llm
):
    reply_json(fake_openai, {"skills": [RELEASE_SKILL]})

    result = extract_candidate(window=build_window(CONVERSATION), llm=llm)

    assert result.candidate is not None
    assert result.candidate.slug == "release-rollout-process"
    assert result.calls == 1
    request = fake_openai.requests_to("/v1/chat/completions")[0].json
    assert request["response_format"] == {"type": "json_object"}
    assert request["temperature"] == 0


def test_user_turns_are_a_separate_field_from_the_conversation(fake_openai, llm):
    """Assistant text reaches the model only as context, never among the user's evidence."""
    import json

    reply_json(fake_openai, {"skills": []})
    extract_candidate(window=build_window(CONVERSATION), llm=llm)

    payload = json.loads(sent_messages(fake_openai)[0][1]["content"])
    assert payload["user_turns"] == [
        CONVERSATION[0]["content"],
        CONVERSATION[2]["content"],
    ]
    assert len(payload["conversation"]) == 3
    assert all("12-point" not in turn for turn in payload["user_turns"])


def test_an_empty_skills_list_means_no_candidate(fake_openai, llm):
    reply_json(fake_openai, {"skills": []})
    assert (
        extract_candidate(window=build_window(CONVERSATION), llm=llm).candidate is None
    )


def test_an_invalid_answer_gets_exactly_one_repair_that_names_the_problem(
    fake_openai, llm
):
    broken = {"skills": [{"name": "release", "description": "x"}]}  # no instructions
    reply_json(fake_openai, broken, {"skills": [RELEASE_SKILL]})

    result = extract_candidate(window=build_window(CONVERSATION), llm=llm)

    assert result.repaired and result.calls == 2
    repair_request = sent_messages(fake_openai)[1]
    assert "instructions" in repair_request[-1]["content"]
    assert result.candidate is not None


def test_a_second_invalid_answer_is_an_error_not_a_silent_nothing(fake_openai, llm):
    reply_json(fake_openai, "I think the user wants a release skill.", "still prose")

    with pytest.raises(MalformedAnswer):
        extract_candidate(window=build_window(CONVERSATION), llm=llm)
    assert len(fake_openai.requests_to("/v1/chat/completions")) == 2


def test_fenced_and_prefixed_json_is_parsed():
    assert parse_json_answer('```json\n{"skills": []}\n```') == {"skills": []}
    assert parse_json_answer('Here you go: {"skills": []} hope it helps') == {
        "skills": []
    }
    with pytest.raises(ValueError):
        parse_json_answer("no json here")


def test_candidate_schema_accepts_the_original_prompt_alias_and_cleans_lists():
    candidate = candidate_from_json(
        {"name": "Weekly Report", "description": "d", "prompt": "# Goal\nx",
         "triggers": "a, b, a", "tags": ["x"] * 3, "confidence": "2",
         "files": {"scripts/run.sh": "echo", "../etc/passwd": "no", "SKILL.md": "no"}}
    )  # fmt: skip
    assert candidate.instructions == "# Goal\nx"
    assert candidate.triggers == ["a", "b"]
    assert candidate.tags == ["x"]
    assert candidate.confidence == 1.0
    assert list(candidate.files) == ["scripts/run.sh"]
    assert candidate.slug == "weekly-report"
    with pytest.raises(CandidateError):
        candidate_from_json({"skills": [{"name": "x"}]})


def test_secrets_never_reach_the_model(fake_openai, llm):
    leaky = [
        {"role": "user", "content": f"Deploy with {value} and always tag the release."}
        for value in SECRET_SAMPLES.values()
    ]
    reply_json(fake_openai, {"skills": []})

    extract_candidate(
        window=build_window(leaky),
        llm=llm,
        reference={
            "note": SECRET_SAMPLES["openai"]
            if "openai" in SECRET_SAMPLES
            else next(iter(SECRET_SAMPLES.values()))
        },
    )

    for request in fake_openai.requests_to("/v1/chat/completions"):
        assert_no_secrets(request.json)
