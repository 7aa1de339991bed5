"""The OpenAPI document, Swagger UI and the browsable API."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import Resolver404, resolve
from drf_spectacular.validation import validate_schema
from rest_framework import serializers

from proxy.api.extractions import ExtractionInput
from proxy.auth import api_key_create
from proxy.errors import error_body
from proxy.schema import AutoSchema

SCHEMA_URL = "/v1/autoskill/openapi.json"
DOCS_URL = "/v1/autoskill/docs"
SEARCH_URL = "/v1/autoskill/skills/search"
# Every /v1 operation the issue lists (ref-server.md 1.2), path parameters as "{}".
REQUIRED_OPERATIONS = {
    ("post", "/v1/chat/completions"),
    ("post", "/v1/embeddings"),
    ("get", "/v1/models"),
    ("get", "/v1/autoskill/capabilities"),
    ("get", "/v1/autoskill/skills"),
    ("get", "/v1/autoskill/skills/{}"),
    ("delete", "/v1/autoskill/skills/{}"),
    ("get", "/v1/autoskill/skills/{}/md"),
    ("put", "/v1/autoskill/skills/{}/md"),
    ("get", "/v1/autoskill/skills/{}/versions"),
    ("post", "/v1/autoskill/skills/{}/rollback"),
    ("get", "/v1/autoskill/skills/{}/export"),
    ("post", "/v1/autoskill/skills/search"),
    ("post", "/v1/autoskill/skills/import"),
    ("post", "/v1/autoskill/conversations/import"),
    ("post", "/v1/autoskill/retrieval/preview"),
    ("post", "/v1/autoskill/extractions"),
    ("get", "/v1/autoskill/extractions"),
    ("get", "/v1/autoskill/extractions/latest"),
    ("get", "/v1/autoskill/extractions/{}"),
    ("get", "/v1/autoskill/extractions/{}/events"),
    ("post", "/v1/autoskill/extractions/simulate"),
    ("get", "/v1/autoskill/vectors/status"),
    ("post", "/v1/autoskill/vectors/rebuild"),
}
METHODS = {"get", "put", "post", "delete", "patch"}
PUBLIC_PATHS = {"/health", "/ready"}


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_schema_is_served_as_json_without_a_key(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert response.json()["info"]["title"] == "AutoSkill Studio API"


def test_schema_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate_schema(document)  # raises jsonschema.ValidationError


def test_schema_lists_every_v1_operation_including_the_async_ones(document):
    documented = {(m, _template(p)) for m, p, _ in _operations(document)}
    missing = sorted(REQUIRED_OPERATIONS - documented)
    assert not missing, f"operations missing from the OpenAPI document: {missing}"


def test_every_documented_path_is_a_real_route(document):
    unrouted = []
    for path in document["paths"]:
        sample = re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)
        try:
            resolve(sample)
        except Resolver404:
            unrouted.append(path)
    assert not unrouted, f"documented but not routed: {unrouted}"


def test_error_envelope_component_matches_what_the_server_renders(document):
    component = document["components"]["schemas"]["OpenAIError"]
    inner = component["properties"]["error"]
    rendered = error_body(400, "x", code="c", param="p")
    assert set(component["required"]) == set(rendered)
    assert set(inner["properties"]) == set(rendered["error"])
    assert set(inner["required"]) == set(rendered["error"])


def test_every_v1_error_response_is_the_openai_envelope(document):
    wrong = []
    for method, path, operation in _operations(document):
        if path in PUBLIC_PATHS:
            continue
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response.get("content", {}).get("application/json", {})
                if schema.get("schema") != {"$ref": "#/components/schemas/OpenAIError"}:
                    wrong.append(f"{method.upper()} {path} {status}")
    assert not wrong, f"error responses not in the OpenAI envelope: {wrong}"


def test_every_v1_operation_needs_the_bearer_key_and_declares_401(document):
    assert document["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ask_<prefix>_<secret>",
        "description": "An API key (python manage.py create_api_key).",
    }
    for method, path, operation in _operations(document):
        if path in PUBLIC_PATHS:
            assert operation["security"] == []
            continue
        assert {"ApiKeyAuth": []} in operation["security"], (method, path)
        assert {} not in operation["security"], (method, path)
        assert "401" in operation["responses"], (method, path)


def test_nested_serializers_get_names_of_their_own_view(document):
    """Every API nests an InputSerializer (STYLE.md); their components must not clash."""

    class WidgetApi:
        class InputSerializer(serializers.Serializer):
            name = serializers.CharField()

    schema = AutoSchema()
    name = schema.get_serializer_name(WidgetApi.InputSerializer(), "request")
    assert name == "WidgetInput"
    assert schema.get_serializer_name(ExtractionInput(), "request") == "ExtractionInput"
    schemas = document["components"]["schemas"]
    assert not {"Input", "InputRequest", "Output"} & set(schemas)


def test_chat_completions_documents_json_and_sse_answers(document):
    operation = document["paths"]["/v1/chat/completions"]["post"]
    ok = operation["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/event-stream"}
    assert "x-autoskill-overhead-ms" in ok["headers"]
    assert {"400", "401", "502", "504"} <= set(operation["responses"])
    request = document["components"]["schemas"]["ChatCompletionRequest"]
    assert request["additionalProperties"] is True  # unknown fields are forwarded


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files(client):
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div id="swagger-ui"></div>' in html
    assert SCHEMA_URL in html
    # No CDN, no validator badge: the machine (and many deployments) have no internet.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "jsdelivr" not in html and "validator.swagger.io" not in html
    assert '"validatorUrl": null' in html
    assets = re.findall(r"(?:src|href)=\"/static/([^\"]+)\"", html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for asset in assets:
        assert finders.find(asset), f"static file not found: {asset}"


@pytest.fixture
def auth(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=user).secret}"}


def _search_as_browser(client, method: str, payload: dict | None, **auth: str):
    """Call the search endpoint as a browser does: asking for HTML."""
    return getattr(client, method)(
        SEARCH_URL,
        payload,
        content_type="application/json",
        HTTP_ACCEPT="text/html",
        **auth,
    )


@pytest.mark.django_db
def test_api_clients_get_json_by_default(client, auth):
    response = client.post(
        SEARCH_URL, {"query": "x"}, content_type="application/json", **auth
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["object"] == "list"


@pytest.mark.django_db
def test_browsers_get_the_browsable_api(client, auth):
    response = _search_as_browser(client, "post", {"query": "x"}, **auth)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Skill Search" in response.content  # the view's name, DRF's page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "payload", "status", "code"),
    [
        ("post", {}, 400, "invalid_value"),
        ("get", None, 405, "method_not_allowed"),
    ],
)
def test_errors_stay_openai_json_for_browsers(
    client, auth, method, payload, status, code
):
    response = _search_as_browser(client, method, payload, **auth)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] != "The request failed."  # the real message survives


@pytest.mark.django_db
def test_browsers_without_a_key_get_a_json_401(client):
    response = _search_as_browser(client, "post", {"query": "x"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
