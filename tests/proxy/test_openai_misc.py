# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""POST /v1/embeddings, GET /v1/models, /health, /ready and the async error middleware."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
from asgiref.sync import iscoroutinefunction

from autoskill_site.providers.embeddings import HashingEmbedder
from proxy.errors import OpenAIErrorMiddleware
from tests.fakes.openai_server import Reply
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    alice_key,
    asgi_server,
    http_client,
    openai_client,
    sdk_client,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)
TEXTS = ["release notes format", "部署流程", "third input"]


def test_embeddings_float_keep_every_index(openai_client):
    """Vectors come from the configured embedder, one per input, in input order."""
    result = openai_client.embeddings.create(
        model="whatever", input=TEXTS, encoding_format="float"
    )
    expected = HashingEmbedder().embed_passages(TEXTS)
    assert [item.index for item in result.data] == [0, 1, 2]
    got = np.array([item.embedding for item in result.data], dtype=np.float32)
    assert np.allclose(got, expected, atol=1e-6)
    assert result.model == "default"  # the hashing provider's model answers
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0


def test_embeddings_base64_is_little_endian_float32(
    asgi_server, http_client, alice_key
):
    response = http_client.post(
        f"{asgi_server.url}/v1/embeddings",
        json={"input": "release notes format", "encoding_format": "base64"},
        headers={"Authorization": f"Bearer {alice_key}"},
    )
    assert response.status_code == 200
    item = response.json()["data"][0]
    vector = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
    expected = HashingEmbedder().embed_query("release notes format")
    assert item["index"] == 0 and np.allclose(vector, expected)


def test_sdk_default_base64_round_trip(openai_client):
    """The SDK asks for base64 by default and decodes it to the same floats."""
    result = openai_client.embeddings.create(model="m", input="部署流程")
    assert np.allclose(
        result.data[0].embedding, HashingEmbedder().embed_query("部署流程")
    )


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": ["fine", ""]}, 400, "input[1]"),
        ({"input": [[1, 2, 3]]}, 400, "input[0]"),
        ({}, 400, "input"),
        ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format"),
        ({"input": "x", "dimensions": 7}, 400, "dimensions"),
    ],
)
def test_embedding_errors(asgi_server, http_client, alice_key, body, status, param):
    response = http_client.post(
        f"{asgi_server.url}/v1/embeddings",
        json=body,
        headers={"Authorization": f"Bearer {alice_key}"},
    )
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_embeddings_switched_off_and_bad_key(asgi_server, openai_client, settings):
    settings.AUTOSKILL_EMBEDDINGS_PROVIDER = "none"
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.embeddings.create(model="m", input="x")
    assert caught.value.status_code == 501
    assert caught.value.body["code"] == "embeddings_disabled"
    stranger = sdk_client(asgi_server, "ask_nobody")
    try:
        with pytest.raises(openai.AuthenticationError):
            stranger.embeddings.create(model="m", input="x")
        with pytest.raises(openai.AuthenticationError):
            stranger.models.list()
    finally:
        stranger.close()


def test_models_from_the_served_catalog(openai_client, upstream, settings):
    settings.AUTOSKILL_PROXY_MODELS = ["team-gpt", "team-mini", "team-gpt"]
    assert [m.id for m in openai_client.models.list()] == ["team-gpt", "team-mini"]


def test_models_from_the_upstream_else_the_configured_model(openai_client, upstream):
    # given: the upstream has no /models route yet
    assert [m.id for m in openai_client.models.list()] == ["fake-chat"]
    # when it lists its models
    upstream.route(
        "/v1/models",
        lambda request, scripted: Reply(
            body={
                "object": "list",
                "data": [{"id": "up-1", "object": "model", "owned_by": "lab"}],
            }
        ),
    )
    # then they are listed
    listed = list(openai_client.models.list())
    assert [(m.id, m.owned_by) for m in listed] == [("up-1", "lab")]


def test_health_and_ready(asgi_server, http_client, settings, tmp_path):
    assert http_client.get(f"{asgi_server.url}/health").json()["ok"] is True
    ready = http_client.get(f"{asgi_server.url}/ready")
    assert ready.status_code == 200
    assert {name: c["ok"] for name, c in ready.json()["checks"].items()} == {
        "database": True,
        "store": True,
        "llm": True,
        "embeddings": True,
    }
    # a store root that is a file, and a provider without its URL
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings.AUTOSKILL_STORE_DIR = blocker
    settings.AUTOSKILL_LLM_PROVIDER = "openai"
    failing = http_client.get(f"{asgi_server.url}/ready")
    body = failing.json()
    assert failing.status_code == 503 and body["ok"] is False
    assert body["checks"]["store"]["ok"] is False
    assert "OPENAI_BASE_URL" in body["checks"]["llm"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["error"]["code"] == "not_ready"


def test_unknown_v1_path_is_an_openai_404(asgi_server, http_client):
    response = http_client.get(f"{asgi_server.url}/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


def test_error_middleware_is_async_capable():
    """In an async stack the middleware is a coroutine: no thread hop per request."""

    async def view(request):
        return None

    assert OpenAIErrorMiddleware.async_capable and OpenAIErrorMiddleware.sync_capable
    assert iscoroutinefunction(OpenAIErrorMiddleware(view))
    assert not iscoroutinefunction(OpenAIErrorMiddleware(lambda request: None))
