"""The OpenAPI document (drf-spectacular): hooks, the API-key scheme and the non-DRF paths.

The OpenAI-compatible endpoints and the job event stream are async Django views, which
drf-spectacular cannot introspect, so `postprocess_v1_schema` adds their path items
(proxy/schema_openai.py, components in proxy/schema_components.py) next to the DRF
ones and declares the OpenAI error envelope on every operation for the statuses the
server really answers with.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.drainage import set_override
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiViewExtension,
)
from drf_spectacular.utils import extend_schema, extend_schema_view

from proxy.authentication import ApiKeyAuthentication
from proxy.schema_components import SCHEMAS
from proxy.schema_openai import ERROR_REF, path_items
from retrieval.search import MAX_QUERY_CHARS, MAX_TOP_K, SCOPE_ALIASES, SCOPES

API_KEY_SCHEME = "ApiKeyAuth"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Statuses every operation of a kind can answer with, whatever its own view declares.
ERROR_DESCRIPTIONS = {
    400: "Invalid request (OpenAI envelope; `param` names the field).",
    401: "Missing, unknown or revoked API key.",
    404: "No such object for this caller (others' objects are never revealed).",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, naming nested serializers after their view.

    Every API nests its own `InputSerializer`/`OutputSerializer` (STYLE.md), so the
    default component name (the class name) would make every view's input "Input"
    and collide; `SkillSearchApi.InputSerializer` becomes "SkillSearchInput" instead.
    """

    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        parts = type(serializer).__qualname__.split(".")
        if "<locals>" in parts:  # defined inside a function: the names after it
            parts = parts[len(parts) - parts[::-1].index("<locals>") :]
        if len(parts) == 1:
            return parts[0]
        return "".join(_strip_suffix(part) for part in parts)


def _strip_suffix(name: str) -> str:
    for suffix in ("Serializer", "APIView", "ApiView", "Api", "View"):
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe proxy.authentication.ApiKeyAuthentication as the bearer scheme."""

    target_class = "proxy.authentication.ApiKeyAuthentication"
    match_subclasses = True
    name = API_KEY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        components = settings.SPECTACULAR_SETTINGS["APPEND_COMPONENTS"]
        return components["securitySchemes"][API_KEY_SCHEME]


_SEARCH_REQUEST = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
        "q": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K},
        "scope": {"type": "string", "enum": [*SCOPES, *SCOPE_ALIASES]},
        "min_score": {"type": "number", "minimum": 0, "maximum": 1},
    },
    # `query`, or its alias `q`, with some non-blank text.
    "anyOf": [
        {"required": ["query"], "properties": {"query": {"pattern": r"\S"}}},
        {"required": ["q"], "properties": {"q": {"pattern": r"\S"}}},
    ],
}


class SkillSearchApiSchema(OpenApiViewExtension):
    """Document proxy.apis.SkillSearchApi, a plain APIView spectacular cannot guess."""

    target_class = "proxy.apis.SkillSearchApi"

    def view_replacement(self) -> type:
        @extend_schema_view(
            post=extend_schema(
                operation_id="skills_search",
                summary="Search the caller's skills (and libraries) for a query",
                tags=["skills"],
                # `query` or its alias `q` is required; the serializer alone
                # cannot say "one of two".
                request={"application/json": _SEARCH_REQUEST},
                responses={200: {"$ref": "#/components/schemas/SkillSearchResult"}},
            )
        )
        class Documented(self.target):
            pass

        return Documented


# Subclasses (a key-or-session variant) are the same bearer scheme, not a clash.
set_override(ApiKeyAuthentication, "suppress_collision_warning", True)


def preprocess_v1_only(endpoints: list[tuple]) -> list[tuple]:
    """Keep the /v1 API; other DRF views (if any appear) are not part of its contract."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/v1/")]


def postprocess_v1_schema(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the async endpoints, the shared components and the error responses."""
    paths: dict[str, Any] = result.setdefault("paths", {})
    known = {_template(path): path for path in paths}
    for path, item in path_items().items():
        existing = known.get(_template(path))
        if existing is None:
            paths[path] = item
            continue
        # A DRF view already describes this path: only fill in missing methods.
        for method, operation in item.items():
            paths[existing].setdefault(method, operation)
    search = paths.get("/v1/autoskill/skills/search", {}).get("post")
    if search and "requestBody" in search:
        search["requestBody"]["required"] = True  # `query` (or `q`) is required
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in SCHEMAS.items():
        schemas.setdefault(name, schema)
    for path, item in paths.items():
        if path.startswith("/v1/"):
            for method in HTTP_METHODS:
                if method in item:
                    _declare_errors(item[method], path=path)
    result["paths"] = dict(sorted(paths.items()))
    return result


def _template(path: str) -> str:
    """`/x/{id}/events` and `/x/{job_id}/events` name the same route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _declare_errors(operation: dict[str, Any], *, path: str) -> None:
    responses = operation.setdefault("responses", {})
    statuses: list[int] = []
    if operation.get("security") and {} not in operation["security"]:
        statuses.append(401)
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    if "requestBody" in operation or has_query:
        statuses.append(400)
    if "{" in path:
        statuses.append(404)
    for status in statuses:
        response = responses.setdefault(
            str(status), {"description": ERROR_DESCRIPTIONS[status]}
        )
        # Views that declare a status without a body still answer in the envelope.
        response.setdefault("content", {"application/json": {"schema": ERROR_REF}})
