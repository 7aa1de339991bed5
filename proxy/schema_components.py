"""OpenAPI components of the paths described in proxy/schema_openai.py.

Request schemas list with a type only what the proxy itself checks (anything the
server accepts must validate, anything it refuses must not); fields it forwards to
the upstream unchecked are described, not constrained.
"""

from __future__ import annotations

from typing import Any

from proxy.chat_request import ROLES
from proxy.embeddings_api import MAX_INPUTS as MAX_EMBEDDING_INPUTS
from retrieval.search import SCOPE_ALIASES, SCOPES

SCOPE_VALUES = [*SCOPES, *SCOPE_ALIASES]


def ref(name: str) -> dict[str, str]:
    """A reference to one of the document's component schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


_CONTENT = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "array",
            "items": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": True},
                ]
            },
        },
    ]
}


def _forwarded(openai_type: str) -> dict[str, str]:
    """A field the proxy forwards unchecked: documented, judged by the upstream."""
    return {
        "description": f"{openai_type} (OpenAI). Forwarded; the upstream checks it."
    }


def _list_of(
    item: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """OpenAI's list envelope `{"object": "list", "data": [item, ...], **extra}`."""
    return {
        "type": "object",
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": item},
            **(extra or {}),
        },
        "required": ["object", "data", *required],
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "ServerSentEvent": {
        "type": "object",
        "description": (
            "One Server-Sent Event as a client parses it (OpenAPI 3.2's event model); "
            "the operation's description says what `data` holds."
        ),
        "properties": {
            "data": {"type": "string"},
            "event": {"type": "string"},
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    },
    "ChatMessage": {
        "type": "object",
        "description": (
            "A chat message, forwarded to the upstream as sent. `content` may be "
            "omitted only by assistant (tool calls) and function messages."
        ),
        "properties": {
            "role": {"type": "string", "enum": sorted(ROLES)},
            "content": {**_CONTENT, "nullable": True},
            "name": _forwarded("string"),
            "tool_calls": _forwarded("array of tool calls"),
            "tool_call_id": _forwarded("string"),
        },
        "required": ["role"],
        "anyOf": [
            {"properties": {"role": {"enum": ["assistant", "function"]}}},
            {"required": ["content"], "properties": {"content": _CONTENT}},
        ],
        "additionalProperties": True,
    },
    "ChatCompletionRequest": {
        "type": "object",
        "description": (
            "An OpenAI chat completion request. The proxy checks the fields it relies "
            "on (listed with a type) and forwards every field, known or not (tools, "
            "tool_choice, response_format, n, seed, ...), to the upstream, adding only "
            "the retrieved skills as one system message. Keys `scope` and "
            "`autoskill_*` are the proxy's own and are not forwarded: "
            "`autoskill_scope` (or `scope`) picks the skills to retrieve, like the "
            "X-AutoSkill-Scope header, and wins over it."
        ),
        "properties": {
            "model": {
                "type": "string",
                "minLength": 1,
                "description": "Default: the configured chat model.",
            },
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": ref("ChatMessage"),
            },
            "stream": {"type": "boolean", "nullable": True, "default": False},
            "stream_options": {
                "type": "object",
                "nullable": True,
                "description": "Only with `stream: true` ({include_usage: bool}).",
                "additionalProperties": True,
            },
            "n": {"type": "integer", "minimum": 1, "nullable": True},
            "tools": {
                "type": "array",
                "nullable": True,
                "items": {},
                "description": "Tool definitions, forwarded as sent.",
            },
            "user": {
                "type": "string",
                "nullable": True,
                "description": "Sub-user to act for (trusted service keys only).",
            },
            "tool_choice": _forwarded("string or object"),
            "response_format": _forwarded("object"),
            "temperature": _forwarded("number 0..2"),
            "top_p": _forwarded("number 0..1"),
            "seed": _forwarded("integer"),
            "max_tokens": _forwarded("integer"),
            "max_completion_tokens": _forwarded("integer"),
        },
        "required": ["messages"],
        # stream_options only with stream: true (OpenAI's rule, checked here too).
        "anyOf": [
            {"required": ["stream"], "properties": {"stream": {"enum": [True]}}},
            {"not": {"required": ["stream_options"]}},
            {"properties": {"stream_options": {"nullable": True, "enum": [None]}}},
        ],
        "additionalProperties": True,
    },
    "AutoSkillTurn": {
        "type": "object",
        "description": (
            "What AutoSkill did for this turn: retrieval summary and the extraction "
            "job scheduled after it (on the first and the final stream chunk)."
        ),
        "properties": {
            "retrieval": {"type": "object", "additionalProperties": True},
            "extraction": {
                "type": "object",
                "properties": {
                    "job_id": {"type": "string", "nullable": True},
                    "status": {"type": "string"},
                },
                "additionalProperties": True,
            },
        },
        "additionalProperties": True,
    },
    "ChatCompletion": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string", "enum": ["chat.completion"]},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "message": {"type": "object", "additionalProperties": True},
                        "finish_reason": {"type": "string", "nullable": True},
                    },
                    "additionalProperties": True,
                },
            },
            "usage": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "prompt_tokens": {"type": "integer"},
                    "completion_tokens": {"type": "integer"},
                    "total_tokens": {"type": "integer"},
                },
                "additionalProperties": True,
            },
            "autoskill": ref("AutoSkillTurn"),
        },
        "required": ["id", "object", "created", "model", "choices"],
        "additionalProperties": True,
    },
    "EmbeddingRequest": {
        "type": "object",
        "description": (
            "`dimensions`, if sent, must equal the configured model's size (else 400); "
            "token-id arrays are not supported by the embedding providers (400)."
        ),
        "properties": {
            "input": {
                "oneOf": [
                    {"type": "string", "pattern": r"\S"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_EMBEDDING_INPUTS,
                        "items": {"type": "string", "pattern": r"\S"},
                    },
                ]
            },
            "encoding_format": {
                "type": "string",
                "enum": ["float", "base64", ""],
                "nullable": True,
                "description": "Default (also for empty): float.",
            },
            "model": _forwarded("string; the configured embedding model answers"),
            "user": _forwarded("string"),
        },
        "required": ["input"],
        "additionalProperties": True,
    },
    "EmbeddingList": _list_of(
        {
            "type": "object",
            "properties": {
                "object": {"type": "string", "enum": ["embedding"]},
                "index": {"type": "integer"},
                "embedding": {
                    "oneOf": [
                        {"type": "array", "items": {"type": "number"}},
                        {"type": "string", "description": "base64 float32"},
                    ]
                },
            },
            "required": ["object", "index", "embedding"],
        },
        extra={
            "model": {"type": "string"},
            "usage": {"type": "object", "additionalProperties": True},
        },
        required=("model",),
    ),
    "ModelList": _list_of(
        {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string"},
                "created": {"type": "integer"},
                "owned_by": {"type": "string"},
            },
            "required": ["id", "object"],
        }
    ),
}

_HIT = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["skill_hit"]},
        "rank": {"type": "integer"},
        "id": {"type": "string", "format": "uuid"},
        "score": {"type": "number"},
        "name": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "version": {"type": "string"},
        "source": {"type": "string", "description": "`user` or `library:<slug>`."},
        "keyword_score": {"type": "number", "nullable": True},
        "vector_score": {"type": "number", "nullable": True},
    },
    "required": ["object", "rank", "id", "score", "name", "version", "source"],
}
SCHEMAS["SkillHit"] = _HIT
SCHEMAS["SkillSearchResult"] = {
    "type": "object",
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "query": {"type": "string"},
        "user": {"type": "string"},
        "scope": {"type": "string"},
        "mode": {"type": "string"},
        "data": {"type": "array", "items": ref("SkillHit")},
        "data_user": {"type": "array", "items": ref("SkillHit")},
        "data_library": {"type": "array", "items": ref("SkillHit")},
    },
    "required": ["object", "query", "scope", "data"],
}
