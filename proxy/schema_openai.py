"""OpenAPI descriptions of the paths that are not DRF views (used by proxy/schema.py).

POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models are async Django
views; GET /v1/autoskill/extractions/{job_id}/events holds an SSE stream open; /health
and /ready sit outside DRF. The shapes follow the OpenAI API where the endpoint is
OpenAI's, and `additionalProperties` stays open where the proxy forwards unknown fields.
"""

from __future__ import annotations

from typing import Any

from proxy.schema_components import SCOPE_VALUES, ref

ERROR_REF = {"$ref": "#/components/schemas/OpenAIError"}
SECURED = [{"ApiKeyAuth": []}]


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Invalid request (OpenAI envelope; `param` names the field).",
        401: "Missing, unknown or revoked API key.",
        404: "No such object for this caller (or, relayed, no such upstream model).",
        409: "The upstream reported a conflict (relayed).",
        413: "Request body too large (ours or the upstream's limit).",
        415: "The upstream refused the media type (relayed).",
        422: "The upstream rejected the request's content (relayed).",
        429: "The upstream model rate-limited the request (relayed).",
        501: "Embeddings are switched off (AUTOSKILL_EMBEDDINGS_PROVIDER=none).",
        502: "The upstream model failed or answered something unusable.",
        503: "No upstream model is configured or reachable.",
        504: "The upstream model did not answer in time.",
    }
    return {
        str(status): {
            "description": texts[status],
            "content": {"application/json": {"schema": ERROR_REF}},
        }
        for status in statuses
    }


_SSE_CHAT = (
    "With `stream: true`: Server-Sent Events, one `data: <chat.completion.chunk>` "
    "per upstream chunk (tool-call deltas intact), `: keep-alive` comments, and "
    "`data: [DONE]` last. The first and the final chunk carry `autoskill`. An "
    "upstream failure after the first byte arrives as a chunk with an `error` object."
)
_SSE_EVENTS = (
    "Server-Sent Events of the job's events, in order, each once: `id: <event id>`, "
    "`event: update`, `data: <extraction event JSON>`; `: keep-alive` comments while "
    "quiet; `event: done` (data: the latest event and `reason`: terminal, timeout or "
    "deleted) when the job ends or `timeout_s` passes; then `data: [DONE]`. "
    "Reconnect with `Last-Event-ID` (or `?after=`) to resume after an event. Another "
    "user's job answers 404, as a missing one does."
)


def path_items() -> dict[str, dict[str, Any]]:
    """OpenAPI path items of the non-DRF endpoints, keyed by path."""
    overhead = {
        "x-autoskill-overhead-ms": {
            "description": "Milliseconds the proxy added (retrieval, injection).",
            "schema": {"type": "string"},
        }
    }
    chat_ok = {
        "description": "The upstream's answer, plus `autoskill`. " + _SSE_CHAT,
        "headers": overhead,
        "content": {
            "application/json": {"schema": ref("ChatCompletion")},
            "text/event-stream": {"schema": ref("ServerSentEvent")},
        },
    }
    headers = [
        {
            "name": "X-AutoSkill-Scope",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": [*SCOPE_VALUES, ""]},
            "description": (
                "Which skills to retrieve (overrides configuration; empty: unset)."
            ),
        },
        {
            "name": "X-AutoSkill-User",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "Sub-user to act for (trusted service keys only).",
        },
    ]
    return {
        "/v1/chat/completions": {
            "post": {
                "operationId": "chat_completions_create",
                "summary": "Chat completion with skill retrieval and injection",
                "description": (
                    "OpenAI-compatible. Retrieves the caller's skills for the latest "
                    "user message, injects them as a system message, forwards every "
                    "message and field to the upstream model and relays its answer "
                    "(tool calls, usage, finish_reason). Learning runs afterwards."
                ),
                "tags": ["openai"],
                "security": SECURED,
                "parameters": headers,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ChatCompletionRequest")}
                    },
                },
                "responses": {
                    "200": chat_ok,
                    **_errors(400, 401, 404, 409, 413, 415, 422, 429, 502, 503, 504),
                },
            }
        },
        "/v1/embeddings": {
            "post": {
                "operationId": "embeddings_create",
                "summary": "Embeddings (passthrough to the embedding provider)",
                "description": "OpenAI-compatible; indices follow the input order.",
                "tags": ["openai"],
                "security": SECURED,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("EmbeddingRequest")}
                    },
                },
                "responses": {
                    "200": {
                        "description": "One embedding per input.",
                        "content": {
                            "application/json": {"schema": ref("EmbeddingList")}
                        },
                    },
                    **_errors(400, 401, 413, 501, 502, 503),
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "models_list",
                "summary": "Models served (configured list, else the upstream's)",
                "tags": ["openai"],
                "security": SECURED,
                "responses": {
                    "200": {
                        "description": "The model catalog.",
                        "content": {"application/json": {"schema": ref("ModelList")}},
                    },
                    **_errors(401, 503),
                },
            }
        },
        "/v1/autoskill/extractions/{job_id}/events": {
            "get": {
                "operationId": "extractions_events_stream",
                "summary": "Stream an extraction job's events (SSE)",
                "description": _SSE_EVENTS,
                "tags": ["extractions"],
                "security": SECURED,
                "parameters": [
                    {
                        "name": "job_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    },
                    {
                        "name": "timeout_s",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 300},
                        "description": "Close the stream after this many seconds.",
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Resume after this event id (as Last-Event-ID).",
                    },
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Resume after this event id.",
                    },
                ],
                "responses": {
                    "200": {
                        "description": _SSE_EVENTS,
                        "content": {
                            "text/event-stream": {"schema": ref("ServerSentEvent")}
                        },
                    },
                    **_errors(400, 401, 404),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "tags": ["health"],
                "security": [],
                "responses": {"200": _open_json("The process is up.")},
            }
        },
        "/ready": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness: database, SkillBank directory, providers",
                "tags": ["health"],
                "security": [],
                "responses": {
                    "200": _open_json("Ready to serve."),
                    "503": _open_json("A dependency is not ready (which one, why)."),
                },
            }
        },
    }


def _open_json(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True}
            }
        },
    }
