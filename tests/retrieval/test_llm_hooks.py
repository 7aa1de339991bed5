"""LLM clients wired into query rewriting and skill selection, through a fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autoskill_site.providers.llm import LLMError
from autoskill_site.providers.llm_config import llm_cache_clear
from autoskill_site.providers.offline import OfflineLLM
from autoskill_site.providers.openai_chat import OpenAICompatibleLLM
from retrieval.context import ContextSkill
from retrieval.llm_hooks import (
    default_rewriter,
    default_selector,
    rewriter_for,
    selector_for,
)
from retrieval.rewrite import rewrite_prompt, rewrite_query
from retrieval.selection import select_skills
from tests.fakes.openai_server import CHAT, Scripted

HISTORY = [
    {"role": "user", "content": "Write a Python script that removes duplicate rows from a CSV."},
    {"role": "assistant", "content": "Here is a script using pandas drop_duplicates ..."},
]  # fmt: skip
FOLLOW_UP = "make it shorter"
CANDIDATES = [
    ContextSkill(id="csv", name="csv-dedupe", description="Deduplicate CSV rows."),
    ContextSkill(id="poem", name="haiku", description="Write haiku."),
]


@pytest.fixture
def client(fake_openai) -> Iterator[OpenAICompatibleLLM]:
    llm = OpenAICompatibleLLM(
        base_url=fake_openai.base_url,
        api_key="sk-test-hooks",
        model="fake-small",
        timeout=5,
        retries=0,
    )
    yield llm
    llm.close()


def rewrite(rewriter, *, timeout: float = 5.0):
    return rewrite_query(
        query=FOLLOW_UP,
        history=HISTORY,
        mode="auto",
        rewriter=rewriter,
        timeout=timeout,
    )


def select(query: str, selector):
    return select_skills(
        query=query, candidates=CANDIDATES, selector=selector, timeout=5
    )


def test_referential_follow_up_is_rewritten_with_the_model_answer(fake_openai, client):
    """The model sees the rewrite prompt at temperature 0; its line becomes the query."""
    # given
    fake_openai.reply_chat("shorter python script to deduplicate csv rows")
    # when
    result = rewrite(rewriter_for(client))
    # then
    assert result.rewritten is True
    assert result.query == "shorter python script to deduplicate csv rows"
    (request,) = fake_openai.requests_to(CHAT)
    assert request.json["messages"] == rewrite_prompt(FOLLOW_UP, HISTORY)
    assert request.json["temperature"] == 0
    assert request.json["model"] == "fake-small"
    assert "response_format" not in request.json


def test_model_failure_falls_back_to_the_raw_query(fake_openai, client):
    fake_openai.fail(CHAT, 500)
    result = rewrite(rewriter_for(client))
    assert (result.query, result.rewritten) == (FOLLOW_UP, False)
    assert result.reason == "rewriter failed: LLMError"
    assert len(fake_openai.requests_to(CHAT)) == 1


def test_answer_later_than_the_timeout_falls_back_to_the_raw_query(fake_openai, client):
    fake_openai.enqueue(CHAT, Scripted(text="too late", delay=30))
    result = rewrite(rewriter_for(client, timeout=30), timeout=0.2)
    assert (result.query, result.rewritten) == (FOLLOW_UP, False)
    assert result.reason.startswith("timed out")


def test_rewriter_http_timeout_defaults_to_the_setting(fake_openai, client, settings):
    """The abandoned call is cut by the HTTP timeout, not left hanging for minutes."""
    settings.AUTOSKILL_REWRITE_TIMEOUT = 0.2
    fake_openai.enqueue(CHAT, Scripted(text="too late", delay=30))
    with pytest.raises(LLMError) as raised:
        rewriter_for(client)(FOLLOW_UP, HISTORY)
    assert raised.value.retryable is True
    assert "sk-test-hooks" not in str(raised.value)


def test_selector_asks_for_json_and_may_keep_none(fake_openai, client):
    # given
    fake_openai.reply_chat('{"selected": [], "reason": "none fits"}')
    # when
    result = select("plan a trip to Kyoto", selector_for(client))
    # then
    assert result.selected_ids == ()
    assert result.used_llm is True
    assert result.reason == "none fits"
    (request,) = fake_openai.requests_to(CHAT)
    assert request.json["response_format"] == {"type": "json_object"}
    assert request.json["temperature"] == 0
    assert '"csv"' in request.json["messages"][-1]["content"]


def test_selector_keeps_what_the_model_picks(fake_openai, client):
    fake_openai.reply_chat('```json\n{"selected": ["csv"], "reason": "dedupe"}\n```')
    result = select("dedupe my csv", selector_for(client))
    assert result.selected_ids == ("csv",)


def test_selector_failure_keeps_every_candidate(fake_openai, client):
    fake_openai.fail(CHAT, 503)
    result = select("dedupe my csv", selector_for(client))
    assert result.selected_ids == ("csv", "poem")
    assert result.used_llm is False


@pytest.mark.parametrize("llm", [None, OfflineLLM()], ids=["missing", "offline"])
def test_no_usable_client_gives_no_callables(llm):
    """The offline heuristic provider is never sent rewrite or JSON selection prompts."""
    assert rewriter_for(llm) is None
    assert selector_for(llm) is None


def test_defaults_are_none_when_settings_choose_the_offline_provider(settings):
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    assert default_rewriter() is None
    assert default_selector() is None


@pytest.fixture
def configured(settings, fake_openai) -> Iterator[None]:
    """Settings pointing at the fake server, with a cheaper background model."""
    settings.AUTOSKILL_LLM_PROVIDER = "generic"
    settings.AUTOSKILL_LLM_BASE_URL = fake_openai.base_url
    settings.AUTOSKILL_LLM_MODEL = "big-chat-model"
    settings.AUTOSKILL_EXTRACTION_LLM_MODEL = "small-model"
    settings.AUTOSKILL_LLM_RETRIES = 0
    yield
    llm_cache_clear()  # closes the clients built from these settings


def test_default_rewriter_uses_the_configured_background_model(fake_openai, configured):
    fake_openai.reply_chat("shorter csv deduplication script")
    result = rewrite(default_rewriter())
    assert result.query == "shorter csv deduplication script"
    assert fake_openai.requests_to(CHAT)[0].json["model"] == "small-model"


def test_default_selector_uses_the_configured_background_model(fake_openai, configured):
    fake_openai.reply_chat('{"selected": ["poem"]}')
    result = select("a haiku about rain", default_selector())
    assert result.selected_ids == ("poem",)
    (request,) = fake_openai.requests_to(CHAT)
    assert request.json["model"] == "small-model"
    assert request.json["response_format"] == {"type": "json_object"}


def test_defaults_read_settings_at_call_time(fake_openai, configured, settings):
    """Switching the provider takes effect on the next call, with no restart."""
    assert default_rewriter() is not None
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    assert default_rewriter() is None
