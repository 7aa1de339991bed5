"""Parse and validate an OpenAI chat completion request without rewriting it.

Only what the proxy itself relies on is checked (the body is a JSON object, the
messages are well formed, the types of `model`, `stream`, `stream_options`, `n`,
`tools`, `user`); everything else is the upstream's to judge, so new OpenAI fields
keep working. Errors name the offending field in `param`, as OpenAI does
(`messages[2].role`). Body keys starting with `autoskill_` (and the original's
`scope`) are the proxy's own options and are not forwarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import JsonResponse

from autoskill_site.sanitize import JSONRefused, json_loads_bounded
from proxy.errors import error_body

__all__ = ["ChatRequest", "ProxyError", "parse_chat_request", "query_of"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Body keys that configure the proxy; upstreams would reject them as unknown.
OWN_KEYS = ("scope",)
OWN_PREFIX = "autoskill_"


class ProxyError(Exception):
    """A request the proxy refuses, as an OpenAI error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = "invalid_value",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def response(self) -> JsonResponse:
        response = JsonResponse(
            error_body(self.status, self.message, code=self.code, param=self.param),
            status=self.status,
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


@dataclass(frozen=True)
class ChatRequest:
    """A validated request: `forward` is the body to send upstream, minus our keys."""

    forward: dict[str, Any]
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    requested_scope: str | None = None
    user: str | None = None
    own: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str | None:
        model = self.forward.get("model")
        return model if isinstance(model, str) else None


def _invalid(
    message: str, param: str | None, code: str = "invalid_value"
) -> ProxyError:
    return ProxyError(400, message, param=param, code=code)


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise _invalid(f"{where} must be an object.", where, "invalid_type")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise _invalid(
            f"{where}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}.",
            f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        # Assistant turns that only call tools carry no content.
        if role in ("assistant", "function"):
            return
        raise _invalid(f"{where}.content is required.", f"{where}.content")
    if not isinstance(content, str | list):
        raise _invalid(
            f"{where}.content must be a string or a list of content parts.",
            f"{where}.content",
            "invalid_type",
        )
    if isinstance(content, list) and not all(
        isinstance(part, Mapping | str) for part in content
    ):
        raise _invalid(
            f"{where}.content parts must be objects.",
            f"{where}.content",
            "invalid_type",
        )


def parse_chat_request(raw: bytes) -> ChatRequest:
    """A `ChatRequest` from the raw body, or ProxyError(400) naming the bad field."""
    try:
        body = json_loads_bounded(raw or b"null")
    except JSONRefused as exc:
        raise _invalid(str(exc), None, "invalid_json") from None
    except ValueError:  # UnicodeDecodeError included
        raise _invalid(
            "The request body is not valid UTF-8 JSON.", None, "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise _invalid(
            "The request body must be a JSON object.", None, "invalid_request"
        )
    messages = body.get("messages")
    if messages is None:
        raise _invalid(
            "Missing required parameter: 'messages'.",
            "messages",
            "missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise _invalid(
            "messages must be a non-empty list of message objects.",
            "messages",
            "invalid_type" if not isinstance(messages, list) else "invalid_value",
        )
    for index, message in enumerate(messages):
        _check_message(index, message)
    if "model" in body and (not isinstance(body["model"], str) or not body["model"]):
        raise _invalid("model must be a non-empty string.", "model", "invalid_type")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _invalid("stream must be a boolean.", "stream", "invalid_type")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, Mapping):
            raise _invalid(
                "stream_options must be an object.", "stream_options", "invalid_type"
            )
        if not stream:
            raise _invalid(
                "stream_options is only allowed when stream is true.",
                "stream_options",
            )
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise _invalid("n must be an integer of at least 1.", "n")
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        raise _invalid("tools must be a list.", "tools", "invalid_type")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid("user must be a string.", "user", "invalid_type")
    own = {
        key: body[key] for key in body if key.startswith(OWN_PREFIX) or key in OWN_KEYS
    }
    scope = own.get("autoskill_scope", own.get("scope"))
    if scope is not None and not isinstance(scope, str):
        param = "autoskill_scope" if "autoskill_scope" in own else "scope"
        raise _invalid(f"{param} must be a string.", param, "invalid_type")
    forward = {key: value for key, value in body.items() if key not in own}
    return ChatRequest(
        forward=forward,
        messages=messages,
        stream=bool(stream),
        include_usage=bool(options and options.get("include_usage")),
        requested_scope=scope,
        user=user or None,
        own=own,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part if isinstance(part, str) else part.get("text")
            for part in content
            if isinstance(part, str)
            or (isinstance(part, Mapping) and part.get("type", "text") == "text")
        ]
        return "\n".join(p for p in parts if isinstance(p, str) and p)
    return ""


def query_of(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The last user message's text and the messages before it (the history)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            text = _text(messages[index].get("content")).strip()
            if text:
                return text, messages[:index]
    return "", messages
