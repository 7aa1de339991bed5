"""Conversation discovery in archived JSON/JSONL files (pure; no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extraction.importing.conversations import (
    clip_messages,
    content_text,
    discover_conversations,
    find_conversations,
    read_json_values,
)

DATA = Path(__file__).parent / "data" / "conversations"


def test_plain_list_is_one_conversation_with_roles_kept():
    """A bare message list is one unit; assistant text stays an assistant turn."""
    discovery = discover_conversations(DATA / "plain_list.json")
    assert discovery.problems == []
    [unit] = discovery.units
    assert unit.title == "plain_list.json#conv_1"
    assert unit.conversation_index == 0
    assert unit.source_file == str((DATA / "plain_list.json").resolve())
    assert [m["role"] for m in unit.messages] == ["system", "user", "assistant"]
    assert unit.messages[1]["content"].startswith("Before each release")


def test_wrapper_content_parts_roles_and_empty_messages():
    """`data` wrappers, content parts, role normalisation and empty-message dropping."""
    first, second = discover_conversations(DATA / "wrapped.json").units
    assert first.messages == [
        {
            "role": "user",
            "content": "Write release notes\nwith summary, breaking changes, migration.",
        },
        {"role": "assistant", "content": "Here they are."},
        {"role": "user", "content": "unknown roles count as user"},
    ]
    # `text` is accepted for content; the empty assistant reply is dropped.
    assert second.messages == [
        {"role": "user", "content": "Use snake_case for every column name."}
    ]
    assert [first.title, second.title] == ["wrapped.json#conv_1", "wrapped.json#conv_2"]


def test_request_logs_get_their_response_and_bad_lines_are_reported():
    """Request logs take the logged reply as the assistant turn; a bad line is an error."""
    discovery = discover_conversations(DATA / "request_logs.jsonl")
    [problem] = discovery.problems
    assert problem.line == 2
    assert "invalid JSON" in problem.error
    assert problem.file.endswith("request_logs.jsonl")
    units = discovery.units
    assert [u.line for u in units] == [1, 3, 5]
    assert units[0].messages[-1] == {
        "role": "assistant",
        "content": "- cause\n- impact\n- fix",
    }
    assert units[1].messages[-1] == {"role": "assistant", "content": "Traduit."}
    # The last message is already the assistant's: the logged response is not added.
    assert [m["content"] for m in units[2].messages] == ["Already answered", "yes"]
    assert [u.conversation_index for u in units] == [0, 1, 2]


def test_directory_is_recursive_sorted_and_reports_unreadable_files():
    """A directory yields every .json/.jsonl below it in sorted order, other files ignored."""
    discovery = discover_conversations(DATA)
    names = [Path(f).relative_to(DATA.resolve()).as_posix() for f in discovery.files]
    assert names == [
        "nested/broken.json",
        "nested/custom_keys.json",
        "nested/deeper/deep.jsonl",
        "plain_list.json",
        "request_logs.jsonl",
        "wrapped.json",
    ]
    assert sorted(Path(p.file).name for p in discovery.problems) == [
        "broken.json",
        "request_logs.jsonl",
    ]
    titles = [u.title for u in discovery.units]
    assert titles[:2] == ["custom_keys.json#conv_1", "deep.jsonl#conv_1"]
    assert len(titles) == 2 + 1 + 3 + 2
    custom = discovery.units[0]
    # ShareGPT-style names: the "gpt" reply must not be taken for user evidence.
    assert [m["role"] for m in custom.messages] == ["user", "assistant"]


def test_max_messages_keeps_the_last_messages():
    """max_messages clips each conversation to its last N messages; 0 keeps all."""
    [unit] = discover_conversations(DATA / "plain_list.json", max_messages=2).units
    assert [m["role"] for m in unit.messages] == ["user", "assistant"]
    assert len(clip_messages([{"role": "user", "content": "x"}] * 5, 0)) == 5
    with pytest.raises(ValueError):
        discover_conversations(DATA / "plain_list.json", max_messages=-1)


def test_missing_path_raises():
    with pytest.raises(FileNotFoundError):
        discover_conversations(DATA / "nope.json")


def test_custom_nesting_is_searched_and_non_conversations_are_ignored():
    value = {
        "meta": {"count": 2},
        "threads": {
            "x": {"history": [{"role": "user", "content": "a"}]},
            "y": {"chat_history": [{"role": "user", "content": "b"}]},
        },
        "tags": ["not", "messages"],
    }
    assert find_conversations(value) == [
        [{"role": "user", "content": "a"}],
        [{"role": "user", "content": "b"}],
    ]
    assert find_conversations({"messages": [{"role": "user", "content": " "}]}) == []


def test_json_file_holding_json_lines_is_read_line_by_line(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "one"}]})
        + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "two"}]})
        + "\n",
        encoding="utf-8",
    )
    values, problems = read_json_values(path)
    assert problems == []
    assert [line for line, _ in values] == [1, 2]


def test_undecodable_file_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"messages": [{"role": "user", "content": "caf\xe9"}]}')
    discovery = discover_conversations(path)
    assert discovery.units == []
    [problem] = discovery.problems
    assert "cannot read file" in problem.error


def test_content_text_shapes():
    assert (
        content_text([{"type": "text", "text": "a"}, "b", {"content": "c"}])
        == "a\nb\nc"
    )
    assert content_text({"text": "t"}) == "t"
    assert content_text({"k": 1}) == '{"k": 1}'
    assert content_text(None) == ""
    assert content_text(42) == "42"
