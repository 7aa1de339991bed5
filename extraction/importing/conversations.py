"""Find OpenAI-style conversations in archived JSON / JSONL files (pure; no Django).

Archives come in many shapes: bare message lists, `{"messages": [...]}` records,
request logs whose reply sits in `response`, wrappers such as `{"data": [...]}`, and
custom nestings. Discovery walks any JSON value and yields each conversation as a
list of `{"role", "content"}` messages with roles kept, because user turns are the
evidence an extraction may learn from and assistant turns are context only.

Reading never skips silently: an unreadable file or a bad JSONL line becomes a
`ReadProblem` with its file and line number, returned next to the units (see
`reading`, which also serves trajectory discovery; its names are re-exported here).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extraction.importing.reading import (
    JSON_SUFFIXES,
    Discovery,
    ReadProblem,
    read_json_values,
    read_text,
    source_files,
    walk_json,
)

__all__ = [
    "JSON_SUFFIXES",
    "ConversationUnit",
    "Discovery",
    "ReadProblem",
    "clip_messages",
    "content_text",
    "discover_conversations",
    "find_conversations",
    "normalise_messages",
    "read_json_values",
    "read_text",
    "response_text",
    "source_files",
]

ROLES = frozenset({"system", "user", "assistant", "tool"})
# Exports from other tools name the same roles differently (ShareGPT: human/gpt).
# Mapping them keeps an assistant's reply from being mistaken for user evidence.
ROLE_ALIASES = {
    "human": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "ai": "assistant",
    "model": "assistant",
    "chatbot": "assistant",
    "developer": "system",
    "function": "tool",
}
CONVERSATION_KEYS = ("messages", "conversation", "dialogue", "history", "chat_history")
REQUEST_KEYS = ("body", "request", "input", "payload")
WRAPPER_KEYS = ("data", "items", "records", "conversations", "dialogues", "samples")
_CONTAINER_KEYS = frozenset(CONVERSATION_KEYS + REQUEST_KEYS + WRAPPER_KEYS)
_MESSAGE_KEYS = ("role", "from", "content", "text", "value")


@dataclass(frozen=True)
class ConversationUnit:
    """One conversation to extract from; `conversation_index` counts from 0 per file."""

    title: str
    source_file: str
    conversation_index: int
    messages: list[dict[str, str]]
    line: int | None = None


def content_text(content: Any) -> str:
    """Text of a message content: a string, OpenAI content parts, or a dict."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, bool | int | float):
        return str(content)
    if isinstance(content, Mapping):
        for key in ("text", "content", "value"):
            if isinstance(content.get(key), str | list):
                return content_text(content[key])
        return json.dumps(content, ensure_ascii=False, sort_keys=True)
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part.strip())
            elif isinstance(part, Mapping):
                # Image, audio and file parts carry no text an extraction can use.
                for key in ("text", "content"):
                    if isinstance(part.get(key), str):
                        parts.append(part[key].strip())
                        break
        return "\n".join(part for part in parts if part)
    return ""


def normalise_role(raw: Any) -> str:
    role = str(raw or "").strip().lower()
    role = ROLE_ALIASES.get(role, role)
    return role if role in ROLES else "user"


def _tool_call_lines(calls: Any) -> list[str]:
    lines = []
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, Mapping):
            continue
        function = (
            call.get("function") if isinstance(call.get("function"), Mapping) else call
        )
        name = str(function.get("name") or "tool")
        arguments = function.get("arguments", function.get("input", ""))
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        lines.append(f"[tool call] {name}({arguments})")
    return lines


def normalise_message(
    item: Mapping[str, Any], *, tool_calls: bool = False
) -> dict[str, str] | None:
    """`{"role", "content"}` for one raw message, or None when it has no text.

    With `tool_calls`, an assistant's OpenAI `tool_calls` are written into its content
    (`[tool call] name(arguments)`), so a trace's tool use survives as text.
    """
    role = normalise_role(item.get("role", item.get("from")))
    raw = item.get("content")
    if raw is None:
        raw = item.get("text", item.get("value"))
    text = content_text(raw)
    if tool_calls and role == "assistant":
        text = "\n".join(
            part for part in [text, *_tool_call_lines(item.get("tool_calls"))] if part
        )
    if not text:
        return None
    return {"role": role, "content": text}


def normalise_messages(
    items: Iterable[Any], *, tool_calls: bool = False
) -> list[dict[str, str]]:
    """Normalised messages; non-dicts and messages without text are dropped."""
    messages = []
    for item in items:
        if isinstance(item, Mapping):
            message = normalise_message(item, tool_calls=tool_calls)
            if message is not None:
                messages.append(message)
    return messages


def is_message_list(value: Any) -> bool:
    """A non-empty list of dicts that look like chat messages (not containers)."""
    if not isinstance(value, list) or not value:
        return False
    if not all(isinstance(item, Mapping) for item in value):
        return False
    if any(_CONTAINER_KEYS.intersection(item) for item in value):
        return False
    return any(key in item for item in value for key in _MESSAGE_KEYS)


def response_text(response: Any) -> str:
    """The reply text of a logged response: chat `choices`, Responses `output_text`, or a string."""
    if isinstance(response, str):
        return response.strip()
    if not isinstance(response, Mapping):
        return ""
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        first = choices[0]
        message = first.get("message")
        if isinstance(message, Mapping):
            text = content_text(message.get("content"))
            if text:
                return text
        if isinstance(first.get("text"), str):
            return first["text"].strip()
    if isinstance(response.get("output_text"), str):
        return response["output_text"].strip()
    return ""


def _with_response(
    messages: list[dict[str, str]], *records: Mapping[str, Any]
) -> list[dict[str, str]]:
    if not messages or messages[-1]["role"] == "assistant":
        return messages
    for record in records:
        reply = response_text(record.get("response"))
        if reply:
            return [*messages, {"role": "assistant", "content": reply}]
    return messages


def _conversation_in(record: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """The conversation a dict holds directly or as a request log, if any."""
    for key in CONVERSATION_KEYS:
        if is_message_list(record.get(key)):
            return _with_response(normalise_messages(record[key]), record)
    for key in REQUEST_KEYS:
        body = record.get(key)
        if isinstance(body, Mapping) and is_message_list(body.get("messages")):
            return _with_response(normalise_messages(body["messages"]), record, body)
    return None


def find_conversations(value: Any) -> list[list[dict[str, str]]]:
    """Every conversation inside a JSON value, in document order; empty ones dropped."""
    return walk_json(value, _claim_conversation)


def _claim_conversation(
    value: Any,
) -> tuple[list[list[dict[str, str]]], Iterable[Any]]:
    """The conversation `value` is (kept only when it has text), or where to look next."""
    if isinstance(value, list):
        if not is_message_list(value):
            return [], value
        messages = normalise_messages(value)
        return ([messages] if messages else []), ()
    if not isinstance(value, Mapping):
        return [], ()
    conversation = _conversation_in(value)
    if conversation is not None:
        return ([conversation] if conversation else []), ()
    wrapped = [
        value[key] for key in WRAPPER_KEYS if isinstance(value.get(key), list | Mapping)
    ]
    # Custom nestings ({"2024-05": {"chats": [...]}}) are searched in full.
    return [], wrapped or list(value.values())


def clip_messages(
    messages: list[dict[str, str]], max_messages: int
) -> list[dict[str, str]]:
    """The last `max_messages` messages (0 keeps them all)."""
    if max_messages < 0:
        raise ValueError("max_messages must be 0 (all) or more.")
    return messages[-max_messages:] if max_messages else list(messages)


def discover_conversations(
    path: Path, *, max_messages: int = 0
) -> Discovery[ConversationUnit]:
    """Conversation units in a `.json`/`.jsonl` file or a directory of them.

    Titles are `<basename>#conv_<n>` with n counting from 1 within each file.
    Raises FileNotFoundError when `path` does not exist.
    """
    if max_messages < 0:
        raise ValueError("max_messages must be 0 (all) or more.")
    discovery: Discovery[ConversationUnit] = Discovery()
    for file, name in discovery.scan(path, JSON_SUFFIXES):
        for index, line, messages in discovery.json_items(
            file, name, find_conversations
        ):
            discovery.units.append(
                ConversationUnit(
                    title=f"{file.name}#conv_{index + 1}",
                    source_file=name,
                    conversation_index=index,
                    messages=clip_messages(messages, max_messages),
                    line=line,
                )
            )
    return discovery
