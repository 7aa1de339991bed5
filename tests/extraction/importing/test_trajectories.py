"""Structured parsing of agent trajectories (pure; no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from extraction.importing.trajectories import (
    MAX_PAYLOAD_CHARS,
    clip_payload,
    discover_trajectories,
    find_records,
    parse_record,
    record_success,
)

DATA = Path(__file__).parent / "data" / "trajectories"


def _by_title(discovery):
    return {unit.title: unit for unit in discovery.units}


def test_runs_wrapper_yields_each_run_with_its_success():
    """The `runs` wrapper wins over the file header; status decides success."""
    units = discover_trajectories(DATA / "runs.json").units
    assert [u.title for u in units] == [
        "runs.json#traj_1",
        "runs.json#traj_2",
        "runs.json#traj_3",
    ]
    assert [u.success for u in units] == [True, False, True]


def test_message_trace_keeps_tool_calls_and_tool_results():
    """OpenAI tool calls become assistant text; tool results stay tool-role messages."""
    run = discover_trajectories(DATA / "runs.json").units[0]
    assert [m["role"] for m in run.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
    assert (
        run.messages[2]["content"] == '[tool call] run_tests({"suite": "regression"})'
    )
    assert run.messages[3]["content"] == "412 passed, 0 failed"
    assert run.events == [
        {
            "type": "tool_result",
            "tool": "run_tests",
            "output": "412 passed",
            "event_type": "event",
        },
        {"event_type": "event", "content": "canary at 5%"},
    ]


def test_without_tool_events_tool_traffic_is_dropped():
    """include_tool_events=False: no events, no tool-role messages, no tool-call text."""
    run = discover_trajectories(DATA / "runs.json", include_tool_events=False).units[0]
    assert run.events == []
    assert [m["role"] for m in run.messages] == ["system", "user", "assistant"]
    assert "[tool call]" not in " ".join(m["content"] for m in run.messages)


def test_sparse_fields_become_messages_and_steps_become_events():
    """task/goal -> user, final_answer -> assistant, feedback -> user; steps and environment -> events."""
    run = discover_trajectories(DATA / "runs.json").units[2]
    assert run.messages == [
        {
            "role": "user",
            "content": "Rotate the TLS certificate on the edge proxies.\n\nNo downtime.",
        },
        {"role": "assistant", "content": "Rotated with a rolling reload."},
        {"role": "user", "content": "Next time announce it in #ops first."},
    ]
    assert [e["event_type"] for e in run.events] == ["step", "step", "environment"]
    assert run.events[0] == {
        "action": "issue_cert",
        "observation": "ok",
        "event_type": "step",
    }


def test_jsonl_records_success_sources_and_bad_line():
    """task_success, result.success and a truthy string decide success; a bad line is reported."""
    discovery = discover_trajectories(DATA / "agent.jsonl")
    [problem] = discovery.problems
    assert problem.line == 3
    first, second, third = discovery.units
    assert (first.success, second.success, third.success) == (False, True, True)
    assert first.events == [
        {
            "name": "query_metrics",
            "arguments": {"window": "24h"},
            "result": "/search p99 2.1s",
            "event_type": "tool_call",
        }
    ]
    # A response object in sparse form is read through its choices.
    assert second.messages[-1] == {"role": "assistant", "content": "Archived."}
    # Events one level down ({"trajectory": {"steps": [...]}}) are found.
    assert [e["event_type"] for e in second.events] == ["step"]
    assert third.messages == []


def test_plain_text_trace_is_one_user_task():
    """A .md file becomes one successful record whose text is the user's task."""
    [unit] = discover_trajectories(DATA / "nightly-trace.md").units
    assert unit.title == "nightly-trace.md"
    assert unit.success is True
    assert [m["role"] for m in unit.messages] == ["user"]
    assert unit.messages[0]["content"].startswith("# Nightly data refresh")
    assert unit.events == []


def test_directory_reads_json_jsonl_and_text_sorted():
    discovery = discover_trajectories(DATA)
    assert [Path(f).name for f in discovery.files] == [
        "agent.jsonl",
        "nightly-trace.md",
        "plain_conversation.json",
        "runs.json",
    ]
    titles = [u.title for u in discovery.units]
    assert "plain_conversation.json#traj_1" in titles
    assert len(titles) == 3 + 1 + 1 + 3


def test_empty_text_file_is_a_problem(tmp_path):
    (tmp_path / "empty.log").write_text("  \n", encoding="utf-8")
    discovery = discover_trajectories(tmp_path)
    assert discovery.units == []
    assert [p.error for p in discovery.problems] == ["empty file"]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"success": False, "status": "completed"}, False),
        ({"objective_met": "true", "status": "failed"}, True),
        ({"status": "Succeeded"}, True),
        ({"status": "cancelled"}, False),
        ({"status": "weird", "result": {"success": False}}, False),
        ({"status": "weird"}, True),
        ({}, True),
    ],
)
def test_record_success_precedence(record, expected):
    assert record_success(record) is expected


def test_long_payloads_are_clipped_and_json_able():
    long = "x" * (MAX_PAYLOAD_CHARS + 500)
    clipped = clip_payload({"out": long, "items": list(range(80)), 1: ("a",)})
    assert clipped["out"].endswith("[500 more chars]")
    assert len(clipped["out"]) < len(long)
    assert clipped["items"][-1] == "… [30 more items]"
    assert clipped["1"] == ["a"]
    _, messages, _ = parse_record(
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "tool", "content": long},
            ]
        }
    )
    assert messages[1]["content"].endswith("[500 more chars]")


def test_trace_holding_messages_is_read_as_messages():
    record = {
        "trace": [
            {"role": "user", "content": "do it"},
            {"role": "assistant", "content": "done"},
        ]
    }
    success, messages, events = parse_record(record)
    assert success is True
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert events == []
    assert find_records([record, {"unrelated": 1}]) == [record]
