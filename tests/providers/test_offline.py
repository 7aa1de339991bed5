"""The offline built-in provider: labelled chat replies and the gated heuristic extractor."""

from __future__ import annotations

import re

import pytest

from autoskill_site.providers.llm import LLMClient, LLMError
from autoskill_site.providers.offline import OfflineLLM
from extraction.candidate import candidate_from_json

RELEASE = "Before each release: run regression -> canary -> monitor -> full rollout"
WEEKLY_ZH = "以后写周报都按这个格式：本周进展、风险、下周计划，不要用表格"
RELEASE_ZH = "每次发版前：回归测试 -> 灰度 -> 监控 -> 全量"


@pytest.fixture
def llm() -> OfflineLLM:
    return OfflineLLM()


def extract(llm: OfflineLLM, *turns: str, hint: str | None = None, context=None):
    return llm.extract_candidate(
        user_turns=list(turns), context_turns=context, hint=hint
    )


def section(instructions: str, title: str) -> str:
    match = re.search(
        rf"^# {re.escape(title)}\n(.*?)(?=^# |\Z)", instructions, re.S | re.M
    )
    assert match, f"no '# {title}' section in:\n{instructions}"
    return match.group(1)


def test_identity_and_protocol(llm):
    """It satisfies LLMClient and says it is the offline provider."""
    assert isinstance(llm, LLMClient)
    assert (llm.provider, llm.model, llm.offline) == (
        "offline",
        "offline-heuristic",
        True,
    )


def test_release_procedure_has_ordered_workflow(llm):
    """The release example yields a release skill with the four steps in order."""
    raw = extract(llm, RELEASE)
    assert raw is not None
    assert "release" in raw["name"]
    workflow = section(raw["instructions"], "Workflow")
    steps = re.findall(r"^(\d+)\. (.+)$", workflow, re.M)
    assert [n for n, _ in steps] == ["1", "2", "3", "4"]
    texts = [t.lower() for _, t in steps]
    for word, text in zip(
        ["regression", "canary", "monitor", "full rollout"], texts, strict=True
    ):
        assert word in text
    assert "# Goal" in raw["instructions"]
    assert "# Constraints & Style" in raw["instructions"]
    assert 3 <= len(raw["triggers"]) <= 5
    assert 1 <= len(raw["tags"]) <= 6
    assert 0.3 <= raw["confidence"] <= 0.7
    assert raw["name"] == candidate_from_json({"skills": [raw]}).slug


def test_chinese_procedure(llm):
    """A Chinese arrow procedure becomes a release workflow described in Chinese."""
    raw = extract(llm, RELEASE_ZH)
    assert raw is not None
    assert raw["name"] == "release-process"
    workflow = section(raw["instructions"], "Workflow")
    assert [s.strip() for s in re.findall(r"^\d+\. (.+)$", workflow, re.M)] == [
        "回归测试",
        "灰度",
        "监控",
        "全量",
    ]
    assert re.search(r"[\u4e00-\u9fff]", raw["description"])


def test_chinese_format_preference(llm):
    """The weekly-report rule keeps its sections in order and the 'no tables' constraint."""
    raw = extract(llm, WEEKLY_ZH)
    assert raw is not None
    assert raw["name"] == "weekly-report-format"
    constraints = section(raw["instructions"], "Constraints & Style")
    assert (
        constraints.index("本周进展")
        < constraints.index("风险")
        < constraints.index("下周计划")
    )
    assert "不要用表格" in constraints
    assert "# Workflow" not in raw["instructions"]


def test_policy_correction_after_assistant_reply(llm):
    """'no, use pnpm not npm in all my projects' sets a policy; the assistant text does not leak."""
    context = [
        {"role": "user", "content": "how do I add lodash?"},
        {"role": "assistant", "content": "Run `npm install lodash` and import it."},
        {"role": "user", "content": "no, use pnpm not npm in all my projects"},
    ]
    raw = extract(
        llm,
        "how do I add lodash?",
        "no, use pnpm not npm in all my projects",
        context=context,
    )
    assert raw is not None
    assert "pnpm" in raw["instructions"]
    assert "lodash" not in raw["instructions"]


@pytest.mark.parametrize(
    "text",
    [
        "what is the capital of France",
        "thanks!",
        "translate this sentence: the meeting moved to Thursday",
        "hi there, how are you today?",
        "Write a haiku about autumn leaves.",
        "法国的首都是哪里",
        "谢谢！",
        "帮我写一首关于春天的诗",
        "Just for this one, don't use bullet points.",
        "My colleague told me their team always does: freeze -> regression -> release.",
    ],
)
def test_small_talk_questions_and_one_offs_yield_nothing(llm, text):
    assert extract(llm, text) is None


def test_assistant_checklist_acknowledged_with_ok_is_not_evidence(llm):
    """An assistant-proposed checklist followed by 'ok' never becomes a skill."""
    context = [
        {"role": "user", "content": "How should I prepare for an interview?"},
        {
            "role": "assistant",
            "content": "Checklist:\n1. Research the company\n2. Prepare stories\n"
            "3. Always send a thank-you note",
        },
        {"role": "user", "content": "ok"},
    ]
    users = [m["content"] for m in context if m["role"] == "user"]
    assert extract(llm, *users, context=context) is None


def test_hint_lowers_the_bar_but_needs_durable_content(llm):
    """A hint admits a terse rule list, but not an empty greeting."""
    rules = "SQL 关键字大写，禁止 select *，多表关联要写清楚别名"
    assert extract(llm, rules) is None
    assert extract(llm, rules, hint="以后写 SQL 的规范") is not None
    assert extract(llm, "thanks!", hint="learn something") is None


def test_pasted_payload_is_not_copied(llm):
    """A task on pasted text is one-off, even when the paste itself contains rules."""
    paste = "The board asked us to always report churn from now on. " * 3
    assert extract(llm, f"Summarise this for me:\n\n{paste}") is None


@pytest.mark.parametrize(
    "text",
    [RELEASE, RELEASE_ZH, WEEKLY_ZH, "Never use emojis in anything you write for me."],
)
def test_positive_outputs_validate_and_are_deterministic(llm, text):
    first = extract(llm, text)
    assert first is not None
    assert candidate_from_json({"skills": [first]}) is not None
    assert extract(OfflineLLM(), text) == first


def test_chat_reply_is_labelled_and_points_to_configuration(llm):
    reply = llm.complete([{"role": "user", "content": "what is the capital of France"}])
    assert reply.provider == "offline"
    assert reply.model == "offline-heuristic"
    assert "offline" in reply.text.lower()
    assert "AUTOSKILL_LLM_PROVIDER" in reply.text
    assert "OPENAI_API_KEY" in reply.text
    assert "nothing reusable" in reply.text


def test_chat_reply_names_injected_skills_and_learnable_message(llm):
    system = (
        "You are helpful.\n\n## Skills for this request\nThese skills come from the library.\n"
        "### Skill 1: release-process v0.1.0\n- Id: abc\n- Title: Release process\n"
        "### Skill 2: weekly-report-format\n- Description: weekly report layout\n"
    )
    reply = llm.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": RELEASE}]
    )
    assert "release-process" in reply.text
    assert "weekly-report-format" in reply.text
    assert "Id" not in reply.text.split("Skills in context")[1].split("\n")[0]
    assert 'learn it as "release-process"' in reply.text


def test_chat_reply_reads_bulleted_skill_lists(llm):
    """Other layouts work too: a '# Skills' block with bulleted names."""
    system = "# Skills\n- **pdf-tables**: extract tables from PDFs\n- csv-cleanup\n# Rules\n- be brief"
    reply = llm.complete(
        [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]
    )
    assert "Skills in context (2): pdf-tables, csv-cleanup." in reply.text


def test_chat_reply_in_chinese_for_chinese_users(llm):
    reply = llm.complete([{"role": "user", "content": "你好呀"}])
    assert "offline" in reply.text
    assert "本次请求的上下文中没有技能" in reply.text


@pytest.mark.parametrize("text", ["hello there", RELEASE, WEEKLY_ZH])
def test_stream_joins_to_complete(llm, text):
    messages = [{"role": "user", "content": text}]
    pieces = list(llm.stream(messages))
    assert len(pieces) > 5
    assert "".join(pieces) == llm.complete(messages).text
    assert llm.complete(messages).text == llm.complete(messages).text


def test_json_mode_is_refused(llm):
    with pytest.raises(LLMError, match="chat only") as info:
        llm.complete([{"role": "user", "content": RELEASE}], json_mode=True)
    assert info.value.retryable is False
