"""The usage audit: sampled model judge, labelled heuristic fallback, counters, pruning."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished

from autoskill_site.providers.llm_config import llm_cache_clear
from autoskill_site.providers.offline import OfflineLLM
from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from extraction.audit import (
    MalformedJudgment,
    audit_sampled,
    judge_prompt,
    parse_judgments,
    usage_audit_run,
    usage_audit_schedule,
)
from extraction.audit_tasks import skill_from_payload, skill_to_payload
from retrieval.context import ContextSkill
from skills.models import Skill, SkillStatus, SkillUsage
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT

pytestmark = pytest.mark.django_db

IMMEDIATE = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "extraction", "audit"],
    }
}
QUERY = "How do I extract tables from a PDF?"
REPLY = "Run camelot in lattice mode and load the result into pandas."
SKILL_FIELDS = ("title", "description", "instructions", "triggers", "tags")
PDF = {
    "title": "Extract tables from PDF files",
    "description": "Pull tables out of PDFs with camelot and clean them with pandas.",
    "instructions": "Use camelot lattice mode, then pandas to drop empty rows.",
    "triggers": ["extract tables from pdf"],
    "tags": ["pdf", "tables"],
}
HAIKU = {
    "title": "Write haiku",
    "description": "Three lines, five-seven-five syllables, a seasonal word.",
    "instructions": "Count syllables; end on a seasonal image.",
    "triggers": ["haiku"],
    "tags": ["poetry"],
}


def context(skill_id: str, name: str, **fields: Any) -> ContextSkill:
    """A ContextSkill as retrieval hands it over: list fields become tuples."""
    return ContextSkill(
        id=skill_id,
        name=name,
        **{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()},
    )


def ctx(skill: Skill) -> ContextSkill:
    return context(
        str(skill.pk),
        skill.name,
        **{field: getattr(skill, field) for field in SKILL_FIELDS},
    )


def pdf_skill(**owner) -> Skill:
    return make_skill(**PDF, **owner)


def haiku_skill(**owner) -> Skill:
    return make_skill(**HAIKU, **owner)


def verdicts(*entries: tuple[Skill, bool, bool]) -> str:
    return json.dumps(
        {
            "skills": [
                {"id": str(s.pk), "relevant": r, "used": u, "reason": "r"}
                for s, r, u in entries
            ]
        }
    )


def audit(
    user,
    *skills: Skill,
    llm=None,
    rate: float | None = 1.0,
    injected: list | None = None,
    query: str = QUERY,
    rng: random.Random | None = None,
) -> dict:
    """One audited turn; every skill was injected unless `injected` says otherwise."""
    return usage_audit_run(
        user=user,
        query=query,
        reply=REPLY,
        skills=[ctx(s) for s in skills],
        injected_ids=[s.pk for s in skills] if injected is None else injected,
        llm=llm,
        rate=rate,
        rng=rng,
    )


def schedule(user, *skills: Skill, injected: list | None = None) -> None:
    usage_audit_schedule(
        user=user,
        query=QUERY,
        reply=REPLY,
        skills=[ctx(s) for s in skills],
        injected_ids=[s.pk for s in skills] if injected is None else injected,
    )


@pytest.fixture
def judge_llm(fake_openai) -> Iterator[OpenAICompatibleLLM]:
    client = OpenAICompatibleLLM(
        base_url=fake_openai.base_url,
        api_key="sk-test-judge",
        model="fake-judge",
        timeout=10,
        retries=1,
    )
    yield client
    client.close()


def row(user, skill) -> SkillUsage:
    return SkillUsage.objects.get(user=user, skill=skill)


def by_id(result: dict) -> dict[str, dict]:
    return {j["skill_id"]: j for j in result["judgments"]}


def judge_prompt_sent(server) -> str:
    return server.requests_to(CHAT)[0].json["messages"][1]["content"]


# -- prompt and parsing ------------------------------------------------------


def test_judge_prompt_lists_every_skill_and_asks_for_json():
    """Each skill appears with its id and whether it was injected; JSON is asked."""
    skills = [
        ContextSkill(id="a", name="alpha", description="Alpha task."),
        ContextSkill(id="b", name="beta", instructions="Beta steps."),
    ]
    messages = judge_prompt("q?", "the reply", skills, injected_ids=["a"])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "JSON" in messages[0]["content"]
    assert "used implies relevant" in messages[0]["content"]
    data = json.loads(messages[1]["content"].split("\n", 1)[1])
    assert (data["message"], data["reply"]) == ("q?", "the reply")
    assert [(s["id"], s["injected"]) for s in data["skills"]] == [
        ("a", True),
        ("b", False),
    ]
    assert data["skills"][1]["instructions_preview"] == "Beta steps."


def test_parse_tolerates_fences_and_chatter_and_corrects_the_verdicts():
    """Unknown ids and repeats are ignored, used needs relevant, gaps go to the heuristic."""
    pdf = context("PDF-1", "pdf-tables", **PDF)
    poem = ContextSkill(id="poem", name="haiku", title="Write haiku")
    memo = ContextSkill(id="memo", name="memo", title="Write memos")
    raw = (
        "Sure, here is my audit:\n```json\n"
        '{"skills": [{"id": "pdf-1", "relevant": "yes", "used": true},'
        ' {"id": "PDF-1", "relevant": false, "used": false},'
        ' {"id": "poem", "relevant": false, "used": true, "reason": "not asked"},'
        ' {"id": "memo", "relevant": "maybe", "used": false},'
        ' {"id": "ghost", "relevant": true, "used": true}]}\n```\nHope this helps.'
    )
    parsed = parse_judgments(raw, [pdf, poem, memo], QUERY, reply=REPLY)
    assert [v.judgment.skill_id for v in parsed] == ["PDF-1", "poem", "memo"]
    first, second, third = parsed
    assert (first.judge, first.judgment.relevant, first.judgment.used) == (
        "llm",
        True,
        True,
    )
    assert (second.judge, second.judgment.used, second.reason) == (
        "llm",
        False,
        "not asked",
    )
    assert (third.judge, third.reason) == ("heuristic", "missing from judge answer")
    assert not third.judgment.relevant
    assert all(v.judgment.query == QUERY for v in parsed)


def test_parse_accepts_a_bare_list():
    skill = ContextSkill(id="a", name="alpha")
    parsed = parse_judgments(
        '[{"id": "a", "relevant": true, "used": false}]', [skill], "q"
    )
    assert (parsed[0].judge, parsed[0].judgment.relevant) == ("llm", True)


@pytest.mark.parametrize(
    "raw",
    ["I think the PDF skill was used.", '{"verdict": "used"}', "", None, "x" * 50_000],
)
def test_parse_rejects_answers_without_verdicts(raw):
    with pytest.raises(MalformedJudgment):
        parse_judgments(raw, [ContextSkill(id="a", name="alpha")], "q")


# -- sampling ------------------------------------------------------------------


def test_hash_sampling_is_stable_per_turn_and_close_to_the_rate():
    """Without an rng the same turn always gets the same draw; the share tracks the rate."""

    def draws(query: str, reply: str) -> list[bool]:
        return [
            audit_sampled(rate=0.25, user_key=7, query=query.format(n=n), reply=reply)
            for n in range(2000)
        ]

    first = draws("question {n}", "answer")
    # The query is normalised like the usage query key.
    assert draws("Question  {n} ", "answer") == first
    assert 0.22 < sum(first) / len(first) < 0.28
    assert draws("question {n}", "other") != first


@pytest.mark.parametrize(
    ("rate", "expected"), [(0.0, False), (float("nan"), False), (1.0, True)]
)
def test_edge_rates_decide_without_a_draw(rate, expected):
    assert audit_sampled(rate=rate, user_key=1, query="q", reply="r") is expected


def test_rate_one_sends_every_turn_to_the_model_judge(user, fake_openai, judge_llm):
    """The judge request carries the skills and asks for JSON; its verdicts are counted."""
    # given
    pdf, poem = pdf_skill(owner=user), haiku_skill(owner=user)
    fake_openai.reply_chat(verdicts((pdf, True, True), (poem, False, False)))
    # when
    result = audit(user, pdf, poem, llm=judge_llm)
    # then
    (request,) = fake_openai.requests_to(CHAT)
    assert request.json["temperature"] == 0
    assert request.json["response_format"] == {"type": "json_object"}
    prompt = judge_prompt_sent(fake_openai)
    assert str(pdf.pk) in prompt and str(poem.pk) in prompt
    assert (result["judge"], result["sampled"], result["note"]) == ("llm", True, "")
    assert sorted(result["counted"]) == sorted([str(pdf.pk), str(poem.pk)])
    assert {j["judge"] for j in result["judgments"]} == {"llm"}
    pdf_row, poem_row = row(user, pdf), row(user, poem)
    assert (pdf_row.judged, pdf_row.relevant, pdf_row.used) == (1, 1, 1)
    assert (poem_row.judged, poem_row.relevant, poem_row.used) == (1, 0, 0)
    assert pdf_row.last_judge == poem_row.last_judge == "llm"


def test_rate_zero_never_calls_the_model(user, fake_openai, judge_llm):
    pdf = pdf_skill(owner=user)
    result = audit(user, pdf, llm=judge_llm, rate=0.0)
    assert fake_openai.requests_to(CHAT) == []
    assert (result["judge"], result["sampled"], result["note"]) == (
        "heuristic",
        False,
        "not sampled",
    )
    assert by_id(result)[str(pdf.pk)]["used"] is True  # the heuristic's verdict
    assert row(user, pdf).last_judge == "heuristic"


def test_rate_defaults_to_the_setting(user, fake_openai, judge_llm, settings):
    settings.AUTOSKILL_USAGE_AUDIT_RATE = 0
    result = audit(user, pdf_skill(owner=user), llm=judge_llm, rate=None, injected=[])
    assert result["sampled"] is False
    assert fake_openai.requests_to(CHAT) == []


def test_partial_rate_follows_the_seeded_rng(user, fake_openai, judge_llm):
    """With rate 0.5 exactly the turns whose draw falls under 0.5 reach the model."""
    pdf = pdf_skill(owner=user)
    twin_draws = random.Random(11)
    expected = [twin_draws.random() < 0.5 for _ in range(12)]
    assert True in expected and False in expected
    fake_openai.reply_chat(*[verdicts((pdf, True, False))] * sum(expected))
    rng = random.Random(11)
    judges = [
        audit(
            user,
            pdf,
            llm=judge_llm,
            rate=0.5,
            rng=rng,
            query=f"extract tables from pdf number {n}",
        )["judge"]
        for n in range(12)
    ]
    assert judges == ["llm" if hit else "heuristic" for hit in expected]
    assert len(fake_openai.requests_to(CHAT)) == sum(expected)
    assert row(user, pdf).judged == 12


# -- fallbacks -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "requests", "note"),
    [
        # Two 500s exhaust the client's one retry.
        (lambda server: server.fail(CHAT, 500, times=2), 2, "judge failed"),
        (
            lambda server: server.reply_chat("The PDF skill was clearly used."),
            1,
            "judge output malformed",
        ),
    ],
    ids=["judge-fails", "answer-malformed"],
)
def test_unusable_judge_falls_back_to_the_heuristic_and_says_so(
    user, fake_openai, judge_llm, script, requests, note
):
    """The turn is still sampled and counted once, under the heuristic's name."""
    pdf = pdf_skill(owner=user)
    script(fake_openai)
    result = audit(user, pdf, llm=judge_llm)
    assert len(fake_openai.requests_to(CHAT)) == requests
    assert (result["judge"], result["sampled"]) == ("heuristic", True)
    assert result["note"].startswith(note)
    assert "sk-test-judge" not in result["note"]
    assert by_id(result)[str(pdf.pk)]["judge"] == "heuristic"
    assert (row(user, pdf).last_judge, row(user, pdf).judged) == ("heuristic", 1)


@pytest.mark.parametrize("client", [None, OfflineLLM()], ids=["missing", "offline"])
def test_without_a_usable_client_the_heuristic_judges(user, fake_openai, client):
    """Neither a missing client nor the offline provider is sent the judge prompt."""
    result = audit(user, pdf_skill(owner=user), llm=client)
    assert (result["judge"], result["note"]) == ("heuristic", "no judge model")
    assert fake_openai.requests_to(CHAT) == []


def test_ids_the_judge_skips_are_recorded_as_heuristic(user, fake_openai, judge_llm):
    """One turn can hold verdicts of both judges; each row names who judged it."""
    pdf, poem = pdf_skill(owner=user), haiku_skill(owner=user)
    fake_openai.reply_chat(verdicts((pdf, True, True)))
    result = audit(user, pdf, poem, llm=judge_llm)
    labels = {sid: j["judge"] for sid, j in by_id(result).items()}
    assert labels == {str(pdf.pk): "llm", str(poem.pk): "heuristic"}
    assert result["judge"] == "llm"
    assert row(user, pdf).last_judge == "llm"
    assert (row(user, poem).last_judge, row(user, poem).judged) == ("heuristic", 1)


def test_used_without_relevant_is_not_counted_as_used(user, fake_openai, judge_llm):
    pdf = pdf_skill(owner=user)
    fake_openai.reply_chat(verdicts((pdf, False, True)))
    result = audit(user, pdf, llm=judge_llm)
    assert by_id(result)[str(pdf.pk)]["used"] is False
    assert (row(user, pdf).relevant, row(user, pdf).used) == (0, 0)


def test_a_skill_that_was_not_injected_is_never_used(user, fake_openai, judge_llm):
    """Retrieved but left out of the context: relevant may count, used may not."""
    pdf = pdf_skill(owner=user)
    fake_openai.reply_chat(verdicts((pdf, True, True)))
    audit(user, pdf, llm=judge_llm, injected=[])
    assert '"injected": false' in judge_prompt_sent(fake_openai)
    assert (row(user, pdf).relevant, row(user, pdf).used) == (1, 0)


def test_library_and_other_users_skills_are_neither_judged_nor_counted(
    user, other_user, library, fake_openai, judge_llm
):
    mine = pdf_skill(owner=user)
    shared = haiku_skill(library=library)
    theirs = haiku_skill(owner=other_user)
    fake_openai.reply_chat(verdicts((mine, True, True)))
    result = audit(user, mine, shared, theirs, llm=judge_llm)
    prompt = judge_prompt_sent(fake_openai)
    assert str(shared.pk) not in prompt and str(theirs.pk) not in prompt
    assert set(result["ignored"]) == {str(shared.pk), str(theirs.pk)}
    assert list(by_id(result)) == [str(mine.pk)]
    assert list(SkillUsage.objects.values_list("skill_id", flat=True)) == [mine.pk]


def test_only_library_skills_means_no_model_call(user, library, fake_openai, judge_llm):
    shared = pdf_skill(library=library)
    result = audit(user, shared, llm=judge_llm)
    assert (result["judge"], result["ignored"]) == ("none", [str(shared.pk)])
    assert fake_openai.requests_to(CHAT) == []
    assert not SkillUsage.objects.exists()


# -- pruning -------------------------------------------------------------------


def test_enough_judged_unused_retrievals_archive_the_skill(user, settings):
    """A skill retrieved for three unrelated turns and never used is archived on the third."""
    settings.AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = 3
    settings.AUTOSKILL_USAGE_PRUNE_MAX_USED = 0
    pdf, poem = pdf_skill(owner=user), haiku_skill(owner=user)
    pruned = [
        audit(user, pdf, poem, rate=0.0, query=f"extract tables from pdf report {n}")[
            "pruned"
        ]
        for n in range(3)
    ]
    assert pruned == [[], [], [str(poem.pk)]]
    assert Skill.objects.get(pk=poem.pk).status == SkillStatus.ARCHIVED
    assert Skill.objects.get(pk=pdf.pk).status == SkillStatus.ACTIVE
    assert row(user, poem).judged == 3


# -- scheduling ----------------------------------------------------------------


def test_payload_round_trips_through_json():
    skill = ContextSkill(
        id="a", name="alpha", triggers=("x", "y"), tags=("t",), resources=("r.py",)
    )
    payload = json.loads(json.dumps(skill_to_payload(skill)))
    assert skill_from_payload({**payload, "unknown": 1}) == skill


@pytest.fixture
def finished_task() -> Iterator[Any]:
    """Call it after the audit ran: the one task result, checked to have succeeded."""
    seen = []

    def record(sender, task_result, **kwargs):
        seen.append(task_result)

    def only() -> Any:
        (task_result,) = seen
        assert task_result.status == TaskResultStatus.SUCCESSFUL
        return task_result

    task_finished.connect(record)
    yield only
    task_finished.disconnect(record)


def test_scheduled_audit_runs_after_commit_and_records_counters(
    user, settings, django_capture_on_commit_callbacks, finished_task
):
    """Nothing runs inside the transaction; on commit the audit task counts the turn."""
    # given
    settings.TASKS = IMMEDIATE
    settings.AUTOSKILL_USAGE_AUDIT_RATE = 0
    pdf = pdf_skill(owner=user)
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        schedule(user, pdf)
    # then
    assert len(callbacks) == 1
    assert not SkillUsage.objects.exists()
    callbacks[0]()
    task_result = finished_task()
    assert task_result.task.queue_name == "audit"
    assert task_result.return_value["judge"] == "heuristic"
    usage = row(user, pdf)
    assert (usage.retrieved, usage.judged, usage.used) == (1, 1, 1)
    assert usage.last_judge == "heuristic"


def test_nothing_is_scheduled_without_skills(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        schedule(user)
    assert callbacks == []


@pytest.fixture
def configured_judge(settings, fake_openai) -> Iterator[None]:
    settings.TASKS = IMMEDIATE
    settings.AUTOSKILL_LLM_PROVIDER = "generic"
    settings.AUTOSKILL_LLM_BASE_URL = fake_openai.base_url
    settings.AUTOSKILL_LLM_MODEL = "big-chat-model"
    settings.AUTOSKILL_EXTRACTION_LLM_MODEL = "small-judge"
    settings.AUTOSKILL_LLM_RETRIES = 0
    yield
    llm_cache_clear()


def test_scheduled_audit_uses_the_configured_judge(
    user,
    settings,
    fake_openai,
    configured_judge,
    django_capture_on_commit_callbacks,
    finished_task,
):
    """In the worker, the audit client comes from settings (background model)."""
    settings.AUTOSKILL_USAGE_AUDIT_RATE = 1.0
    pdf = pdf_skill(owner=user)
    fake_openai.reply_chat(verdicts((pdf, True, False)))
    with django_capture_on_commit_callbacks(execute=True):
        schedule(user, pdf)
    finished_task()
    (request,) = fake_openai.requests_to(CHAT)
    assert request.json["model"] == "small-judge"
    assert row(user, pdf).last_judge == "llm"
    assert (row(user, pdf).relevant, row(user, pdf).used) == (1, 0)


def test_audit_of_a_deleted_user_does_nothing(
    user, settings, django_capture_on_commit_callbacks, finished_task
):
    settings.TASKS = IMMEDIATE
    pdf = pdf_skill(owner=user)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        schedule(user, pdf, injected=[])
    user.delete()
    callbacks[0]()
    assert finished_task().return_value["note"] == "user no longer exists"
    assert not SkillUsage.objects.exists()
