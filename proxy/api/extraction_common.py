"""Shared pieces of the extraction, retrieval, vectors and capabilities endpoints.

Authentication, the OpenAPI error references, and the message input every
"give me a conversation" endpoint accepts (`messages`, or a bare `query`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from autoskill_site.exceptions import ApplicationError
from extraction.evidence import message_text
from proxy.authentication import API_AUTHENTICATION
from retrieval.search import MAX_QUERY_CHARS, SCOPE_ALIASES, SCOPES

__all__ = [
    "AUTHENTICATION",
    "MAX_MESSAGES",
    "PERMISSIONS",
    "ConversationInput",
    "UpstreamUnavailable",
    "error_responses",
    "last_user_text",
]


AUTHENTICATION = API_AUTHENTICATION
PERMISSIONS = [IsAuthenticated]
MAX_MESSAGES = 500
ROLES = ("system", "user", "assistant", "tool", "developer")

_ERROR_SCHEMA = {"$ref": "#/components/schemas/OpenAIError"}
_ERROR_TEXT = {
    400: "Invalid input (OpenAI error envelope, `param` names the field).",
    401: "Missing or wrong API key.",
    403: "Authenticated, but not allowed (staff only, or CSRF for sessions).",
    404: "Not found, or not yours.",
    409: "Conflict (for example extraction is disabled).",
    413: "The upload is too large.",
    415: "Unsupported media type.",
    502: "The configured model provider failed.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`extend_schema(responses=...)` entries for the OpenAI error envelope."""
    return {
        status: OpenApiResponse(
            response=_ERROR_SCHEMA, description=_ERROR_TEXT.get(status, "Error.")
        )
        for status in statuses
    }


class UpstreamUnavailable(ApplicationError):
    """A model provider call failed; the caller may retry later."""

    code = "upstream_error"
    status = 502


def last_user_text(messages: list[Mapping[str, Any]]) -> str:
    """The latest user turn with text: what retrieval searches for."""
    for message in reversed(messages):
        if message.get("role") == "user":
            text = message_text(message.get("content")).strip()
            if text:
                return text
    return ""


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": list(ROLES)},
            "content": {
                "nullable": True,
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {}},
                    {"type": "object"},
                ],
            },
        },
        "required": ["role"],
        "additionalProperties": True,
    }
)
class MessageField(serializers.DictField):
    """One OpenAI chat message: a known role and string / parts / null content."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        role = value.get("role")
        if role not in ROLES:
            raise serializers.ValidationError(
                f"role must be one of {', '.join(ROLES)}."
            )
        content = value.get("content")
        if content is not None and not isinstance(content, str | list | dict):
            raise serializers.ValidationError(
                "content must be a string, a list of parts or null."
            )
        return value


class ConversationInput(serializers.Serializer):
    """`messages`, or a `query` (alias `q`) taken as one user message."""

    messages = serializers.ListField(
        child=MessageField(),
        required=False,
        max_length=MAX_MESSAGES,
        help_text="OpenAI chat messages, oldest first.",
    )
    query = serializers.CharField(
        required=False, max_length=MAX_QUERY_CHARS, trim_whitespace=True
    )
    q = serializers.CharField(
        required=False,
        max_length=MAX_QUERY_CHARS,
        trim_whitespace=True,
        help_text="Alias of `query`.",
    )
    scope = serializers.ChoiceField(choices=[*SCOPES, *SCOPE_ALIASES], default="all")
    min_score = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    user = serializers.CharField(
        required=False,
        help_text="Sub-user to act for; honoured only for service API keys.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        messages = attrs.get("messages")
        query = attrs.get("query") or attrs.get("q") or ""
        if not messages:
            if not query:
                raise serializers.ValidationError(
                    {"messages": "Send `messages` or a `query`."}
                )
            messages = [{"role": "user", "content": query}]
        attrs["messages"] = messages
        attrs["query"] = query or last_user_text(messages)
        attrs["scope"] = SCOPE_ALIASES.get(attrs["scope"], attrs["scope"])
        return attrs
