from __future__ import annotations

import pytest

from proxy.auth import api_key_create
from retrieval.index import index_cache
from tests.factories import make_skill

pytestmark = pytest.mark.django_db
URL = "/v1/autoskill/skills/search"


@pytest.fixture(autouse=True)
def fresh_index_cache():
    index_cache.clear()


@pytest.fixture
def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=user).secret}"}


def test_search_returns_ranked_hits(client, user, auth, on_commit):
    with on_commit():
        skill = make_skill(
            owner=user, title="Release notes writer", triggers=["write release notes"]
        )
    response = client.post(
        URL,
        {"query": "write release notes", "limit": 3, "min_score": 0},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["query"] == "write release notes"
    first = body["data"][0]
    assert (
        first["rank"],
        first["id"],
        first["name"],
        first["version"],
        first["source"],
    ) == (1, str(skill.pk), skill.name, "0.1.0", "user")
    assert 0 <= first["score"] <= 1


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "invalid_api_key"),
        ({"HTTP_AUTHORIZATION": "Bearer ask_nope"}, 401, "invalid_api_key"),
    ],
)
def test_missing_or_wrong_key_is_an_openai_error(client, headers, status, code):
    response = client.post(
        URL, {"query": "x"}, content_type="application/json", **headers
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert (
        error["type"] == "authentication_error"
        and error["code"] == code
        and error["message"]
    )


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({}, "query"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "scope": "nobody"}, "scope"),
        ({"query": "x", "min_score": 3}, "min_score"),
    ],
)
def test_bad_input_is_an_openai_error_naming_the_parameter(
    client, auth, payload, param
):
    response = client.post(URL, payload, content_type="application/json", **auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_malformed_json_and_wrong_method_and_unknown_path(client, auth):
    bad = client.post(URL, "{not json", content_type="application/json", **auth)
    assert (
        bad.status_code == 400
        and bad.json()["error"]["type"] == "invalid_request_error"
    )
    get = client.get(URL, **auth)
    assert get.status_code == 405 and "error" in get.json()
    missing = client.post(
        "/v1/autoskill/nothing-here", {}, content_type="application/json", **auth
    )
    assert (
        missing.status_code == 404
        and missing.json()["error"]["type"] == "not_found_error"
    )


def test_envelopes_also_in_debug_mode(client, auth, settings):
    settings.DEBUG = True
    missing = client.post("/v1/unknown", {}, content_type="application/json", **auth)
    assert (
        missing.status_code == 404
        and missing.json()["error"]["type"] == "not_found_error"
    )


def test_original_api_compatibility_q_alias_defaults_and_split(
    client, user, auth, on_commit, settings
):
    settings.AUTOSKILL_MIN_SCORE = 0.0
    with on_commit():
        make_skill(
            owner=user, title="Release notes writer", triggers=["write release notes"]
        )
    body = client.post(
        URL, {"q": "write release notes"}, content_type="application/json", **auth
    ).json()
    assert body["user"] == "alice" and len(body["data"]) == settings.AUTOSKILL_TOP_K
    assert body["data_user"] == body["data"] and body["data_library"] == []
