"""POST /v1/autoskill/retrieval/preview: rewrite, hits, selection and the rendered context."""

from __future__ import annotations

import json

import pytest

from tests.factories import make_skill
from tests.fakes.openai_server import CHAT
from tests.proxy.api import extraction_fixtures as fixtures

pytestmark = pytest.mark.django_db
URL = "/v1/autoskill/retrieval/preview"
auth, fake_llm = fixtures.auth, fixtures.fake_llm
QUERY = "write the release notes for version 2"


@pytest.fixture
def skills(user, other_user, library, on_commit):
    with on_commit():
        mine = make_skill(
            owner=user,
            title="Release notes writer",
            triggers=["write release notes"],
            instructions="Summary first, then breaking changes, then migration.",
        )
        shared = make_skill(
            library=library,
            title="Release notes style",
            triggers=["release notes version"],
        )
        theirs = make_skill(
            owner=other_user,
            title="Release notes for bob",
            triggers=["write release notes version"],
        )
    return {"mine": mine, "shared": shared, "theirs": theirs}


def preview(client, auth, **payload):
    payload.setdefault("min_score", 0)
    payload.setdefault("limit", 5)
    return client.post(URL, payload, content_type="application/json", **auth)


def test_preview_reports_hits_with_both_scores_and_the_injected_context(
    client, auth, skills
):
    response = preview(client, auth, query=QUERY)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "retrieval_preview" and body["user"] == "alice"
    assert (body["original_query"], body["search_query"]) == (QUERY, QUERY)
    assert body["rewritten_query"] is None
    assert body["rewrite"]["rewritten"] is False
    ids = {h["id"] for h in body["hits"]}
    assert ids == {str(skills["mine"].pk), str(skills["shared"].pk)}
    assert {h["id"] for h in body["hits_user"]} == {str(skills["mine"].pk)}
    assert {h["id"] for h in body["hits_library"]} == {str(skills["shared"].pk)}
    for hit in body["hits"]:
        assert 0 <= hit["score"] <= 1
        assert hit["keyword_score"] > 0
        assert hit["vector_score"] is not None  # the hashing embedder is on in tests
        assert hit["selected"] is True and hit["injected"] is True
    assert body["mode"] == "hybrid"
    assert body["context_injected"] is True
    assert body["context"].startswith("## Skills for this request")
    assert "Summary first, then breaking changes" in body["context"]
    assert set(body["selected_for_context_ids"]) == ids
    assert body["selection"]["used_llm"] is False
    assert {"rewrite_ms", "search_ms", "render_ms", "total_ms"} <= set(body["timings"])


def test_another_users_skills_never_appear(client, auth, skills):
    body = preview(client, auth, query="release notes for bob", scope="all").json()

    assert str(skills["theirs"].pk) not in {h["id"] for h in body["hits"]}
    assert skills["theirs"].name not in body["context"]
    assert str(skills["theirs"].pk) not in body["context"]


def test_the_query_is_the_last_user_message(client, auth, skills):
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": QUERY},
    ]

    body = preview(client, auth, messages=messages, scope="user").json()

    assert body["original_query"] == QUERY
    assert [h["id"] for h in body["hits"]] == [str(skills["mine"].pk)]


def test_a_tight_budget_is_visible_in_the_preview(client, auth, skills, settings):
    settings.AUTOSKILL_MAX_CONTEXT_CHARS = 60

    body = preview(client, auth, query=QUERY).json()

    assert body["max_context_units"] == 60
    assert len(body["selected_for_context_ids"]) < len(body["hits"])
    assert body["omitted_ids"]
    omitted = {h["id"] for h in body["hits"] if not h["injected"]}
    assert omitted == set(body["omitted_ids"])


def test_rewrite_always_asks_the_model_and_searches_its_query(
    client, auth, skills, fake_llm
):
    fake_llm.reply_chat("release notes writer")
    messages = [
        {"role": "user", "content": "I need notes for the release."},
        {"role": "assistant", "content": "Which version?"},
        {"role": "user", "content": "that one"},
    ]

    body = preview(
        client, auth, messages=messages, rewrite_mode="always", scope="user"
    ).json()

    assert body["rewritten_query"] == "release notes writer"
    assert body["search_query"] == "release notes writer"
    assert body["original_query"] == "that one"
    assert body["rewrite"] == {
        "mode": "always",
        "rewritten": True,
        "reason": "mode always",
    }
    assert [h["id"] for h in body["hits"]] == [str(skills["mine"].pk)]
    assert len(fake_llm.requests_to(CHAT)) == 1


def test_a_failing_rewriter_falls_back_to_the_raw_query(client, auth, skills, fake_llm):
    fake_llm.fail(CHAT, 500, "down")

    body = preview(client, auth, query=QUERY, rewrite_mode="always").json()

    assert body["rewritten_query"] is None and body["search_query"] == QUERY
    assert body["rewrite"]["reason"].startswith("rewriter failed")
    assert body["hits"]


def test_selection_can_veto_every_hit(client, auth, skills, fake_llm):
    fake_llm.reply_chat(json.dumps({"selected": [], "reason": "none apply"}))

    body = preview(client, auth, query=QUERY, rewrite_mode="never", select=True).json()

    assert body["selection"]["used_llm"] is True
    assert body["selected_for_use_ids"] == []
    assert body["context_injected"] is False and body["context"] == ""
    assert all(not h["selected"] and not h["injected"] for h in body["hits"])


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({}, "messages"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "rewrite_mode": "sometimes"}, "rewrite_mode"),
        ({"query": "x" * 5000}, "query"),
    ],
)
def test_bad_input_is_a_400_envelope(client, auth, payload, param):
    response = client.post(URL, payload, content_type="application/json", **auth)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_without_a_key_it_is_401(client):
    response = client.post(URL, {"query": "x"}, content_type="application/json")

    assert response.status_code == 401
