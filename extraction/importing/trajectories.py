"""Parse agent trajectories into records an extraction can learn a workflow from (pure).

A trajectory is one agent run: the task, the conversation (with tool calls and tool
results), the steps or events it went through, and whether it succeeded. The
original flattened every file to one blob of text before looking at it, so its
`success_only` and `include_tool_events` switches never did anything; here records
are parsed first, their success is known, and tool traffic is kept or dropped on
request. Plain-text traces (`.txt`, `.md`, `.log`) become one record whose text is
the user's task description.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extraction.importing.conversations import (
    content_text,
    is_message_list,
    normalise_messages,
    response_text,
)
from extraction.importing.reading import (
    JSON_SUFFIXES,
    Discovery,
    ReadProblem,
    read_text,
    walk_json,
)

__all__ = [
    "TrajectoryDiscovery",
    "TrajectoryRecord",
    "clip_payload",
    "discover_trajectories",
    "find_records",
    "parse_record",
    "record_success",
]

TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".log")
RECORD_KEYS = frozenset(
    {
        "messages", "events", "trace", "trajectory", "steps", "tool_calls", "actions",
        "task", "goal", "instruction", "query", "prompt", "final_answer", "output", "response",
    }
)  # fmt: skip
WRAPPER_KEYS = ("data", "items", "records", "trajectories", "runs", "samples")
MESSAGE_KEYS = (
    "messages", "finalMessages", "final_messages", "conversation", "history", "chat_history", "dialogue",
)  # fmt: skip
# Source key -> the event_type its items are tagged with.
EVENT_KEYS = {
    "events": "event",
    "trace": "trace",
    "trajectory": "trajectory",
    "steps": "step",
    "actions": "action",
    "tool_calls": "tool_call",
    "tools": "tool",
}
REQUEST_KEYS = ("body", "request", "input", "payload")
USER_FIELDS = ("query", "task", "goal", "instruction", "prompt", "input", "user_query")
ASSISTANT_FIELDS = ("final_answer", "output", "response", "assistant", "result_text")
FEEDBACK_FIELDS = ("user_feedback", "feedback", "revision_request")
SUCCESS_FLAGS = ("success", "task_success", "objective_met")
SUCCESS_WORDS = frozenset(
    {
        "success",
        "succeeded",
        "successful",
        "completed",
        "complete",
        "ok",
        "done",
        "passed",
    }
)
FAILURE_WORDS = frozenset({"failed", "failure", "fail", "error", "errored", "timeout", "timed_out", "cancelled", "canceled", "aborted"})  # fmt: skip
TRUE_WORDS = frozenset({"true", "1", "yes", "y"}) | SUCCESS_WORDS
MAX_PAYLOAD_CHARS = 2_000
MAX_LIST_ITEMS = 50
MAX_DEPTH = 6
MAX_TEXT_CHARS = 200_000


@dataclass(frozen=True)
class TrajectoryRecord:
    """One run to learn from; `messages` and `events` already honour include_tool_events."""

    title: str
    source_file: str
    index: int
    success: bool
    messages: list[dict[str, str]]
    events: list[dict[str, Any]]
    line: int | None = None


class TrajectoryDiscovery(Discovery[TrajectoryRecord]):
    """The trajectory records, read problems and files found under a path."""


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in {"false", "0", "no", "n"} | FAILURE_WORDS:
            return False
    return None


def record_success(record: Mapping[str, Any]) -> bool:
    """success|task_success|objective_met, else `status`, else `result.success`; default True."""
    for key in SUCCESS_FLAGS:
        verdict = _truthy(record.get(key))
        if verdict is not None:
            return verdict
    status = record.get("status")
    if isinstance(status, str):
        word = status.strip().lower()
        if word in SUCCESS_WORDS:
            return True
        if word in FAILURE_WORDS:
            return False
    result = record.get("result")
    if isinstance(result, Mapping):
        verdict = _truthy(result.get("success"))
        if verdict is not None:
            return verdict
    return True


def clip_payload(value: Any, *, depth: int = 0) -> Any:
    """A JSON-able copy with long strings and long lists clipped (they only cost tokens)."""
    if isinstance(value, str):
        if len(value) <= MAX_PAYLOAD_CHARS:
            return value
        return (
            value[:MAX_PAYLOAD_CHARS]
            + f"… [{len(value) - MAX_PAYLOAD_CHARS} more chars]"
        )
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return clip_payload(json.dumps(value, ensure_ascii=False, default=str))
    if isinstance(value, Mapping):
        return {str(k): clip_payload(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [clip_payload(v, depth=depth + 1) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            items.append(f"… [{len(value) - MAX_LIST_ITEMS} more items]")
        return items
    return clip_payload(str(value))


def _field_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return response_text(value) or content_text(value)
    return content_text(value)


def _has_roles(value: Any) -> bool:
    """A list whose every item is a dict with a `role`: messages, not steps."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) and "role" in item for item in value)
    )


def _raw_messages(
    record: Mapping[str, Any],
) -> tuple[list[Any], Mapping[str, Any] | None]:
    """The record's message list and where a logged response may sit next to it."""
    for key in MESSAGE_KEYS:
        if is_message_list(record.get(key)):
            return record[key], record
    for key in REQUEST_KEYS:
        body = record.get(key)
        if isinstance(body, Mapping) and is_message_list(body.get("messages")):
            return body["messages"], body
    for key in ("trajectory", "trace"):
        if _has_roles(record.get(key)):
            return record[key], record
    return [], None


def _messages(
    record: Mapping[str, Any], *, include_tool_events: bool
) -> list[dict[str, str]]:
    raw, holder = _raw_messages(record)
    messages = normalise_messages(raw, tool_calls=include_tool_events)
    if include_tool_events:
        messages = [
            {"role": m["role"], "content": clip_payload(m["content"])}
            if m["role"] == "tool"
            else m
            for m in messages
        ]
    else:
        messages = [m for m in messages if m["role"] != "tool"]
    task = "\n\n".join(
        dict.fromkeys(
            text
            for key in USER_FIELDS
            if not isinstance(record.get(key), Mapping)
            and (text := _field_text(record.get(key)))
        )
    )
    if task and not any(m["role"] == "user" for m in messages):
        messages.insert(0, {"role": "user", "content": task})
    if not messages or messages[-1]["role"] != "assistant":
        sources = [record] + (
            [holder] if holder is not None and holder is not record else []
        )
        for key in ASSISTANT_FIELDS:
            answer = next((t for s in sources if (t := _field_text(s.get(key)))), "")
            if answer:
                messages.append({"role": "assistant", "content": answer})
                break
    for key in FEEDBACK_FIELDS:
        feedback = _field_text(record.get(key))
        if feedback:
            messages.append({"role": "user", "content": feedback})
    return messages


def _tagged(item: Any, tag: str) -> dict[str, Any]:
    if isinstance(item, Mapping):
        event = clip_payload(item)
        own = item.get("event_type")
        event["event_type"] = own if isinstance(own, str) and own else tag
        return event
    return {
        "event_type": tag,
        "content": clip_payload(
            item if isinstance(item, str) else json.dumps(item, default=str)
        ),
    }


def _events(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for key, tag in EVENT_KEYS.items():
        value = record.get(key)
        if _has_roles(value):
            continue  # a message list under "trajectory"/"trace" was read as messages
        if isinstance(value, list):
            events.extend(_tagged(item, tag) for item in value)
        elif isinstance(value, Mapping):
            # {"trajectory": {"steps": [...]}}: the events are one level down.
            nested = _events(value)
            events.extend(nested or [_tagged(value, tag)])
    environment = record.get("environment")
    if isinstance(environment, Mapping | list | str) and environment:
        events.append(
            _tagged(
                environment
                if isinstance(environment, Mapping)
                else {"content": environment},
                "environment",
            )
        )
    return events


def parse_record(
    record: Mapping[str, Any], *, include_tool_events: bool = True
) -> tuple[bool, list[dict[str, str]], list[dict[str, Any]]]:
    """(success, messages, events) of one trajectory record.

    Without `include_tool_events`, events are empty, tool-role messages are dropped
    and assistant tool calls are not written into the assistant's text.
    """
    success = record_success(record)
    messages = _messages(record, include_tool_events=include_tool_events)
    events = _events(record) if include_tool_events else []
    return success, messages, events


def _is_record(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(RECORD_KEYS.intersection(value))


def find_records(value: Any) -> list[Mapping[str, Any]]:
    """Every trajectory record inside a JSON value, in document order."""
    return walk_json(value, _claim_record)


def _claim_record(value: Any) -> tuple[list[Mapping[str, Any]], Iterable[Any]]:
    """The record `value` is, or where to look next."""
    if isinstance(value, list):
        if _has_roles(value):
            return [{"messages": value}], ()  # a bare conversation is one run
        return [], value
    if not isinstance(value, Mapping):
        return [], ()
    for key in WRAPPER_KEYS:
        child = value.get(key)
        # A wrapper wins over the record keys of its header ({"task": ..., "runs": [...]}).
        if isinstance(child, list) and any(_is_record(item) for item in child):
            return [], child
    if _is_record(value):
        return [value], ()
    return [], list(value.values())


def _text_record(
    file: Path, name: str
) -> tuple[TrajectoryRecord | None, ReadProblem | None]:
    try:
        text = read_text(file).strip()
    except (OSError, UnicodeError) as exc:
        return None, ReadProblem(name, f"cannot read text file: {exc}")
    if not text:
        return None, ReadProblem(name, "empty file")
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + f"\n… [{len(text) - MAX_TEXT_CHARS} more chars]"
    record = TrajectoryRecord(
        title=file.name,
        source_file=name,
        index=0,
        success=True,
        messages=[{"role": "user", "content": text}],
        events=[],
    )
    return record, None


def discover_trajectories(
    path: Path, *, include_tool_events: bool = True
) -> TrajectoryDiscovery:
    """Trajectory records in a file or a directory (`.json`, `.jsonl`, `.txt`, `.md`, `.log`).

    Records are returned whether or not they succeeded; the caller decides what
    `success_only` skips. Raises FileNotFoundError when `path` does not exist.
    """
    discovery = TrajectoryDiscovery()
    for file, name in discovery.scan(path, JSON_SUFFIXES + TEXT_SUFFIXES):
        if file.suffix.lower() not in JSON_SUFFIXES:
            record, problem = _text_record(file, name)
            discovery.units.extend([record] if record else [])
            discovery.problems.extend([problem] if problem else [])
            continue
        for index, line, raw in discovery.json_items(file, name, find_records):
            success, messages, events = parse_record(
                raw, include_tool_events=include_tool_events
            )
            discovery.units.append(
                TrajectoryRecord(
                    title=f"{file.name}#traj_{index + 1}",
                    source_file=name,
                    index=index,
                    success=success,
                    messages=messages,
                    events=events,
                    line=line,
                )
            )
    return discovery
