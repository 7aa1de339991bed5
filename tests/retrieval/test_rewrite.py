"""Query rewrite: when auto rewrites, and the fallbacks under a hard timeout."""

from __future__ import annotations

import threading

import pytest

from retrieval.rewrite import (
    RewriteMode,
    clean_rewrite,
    history_messages,
    rewrite_prompt,
    rewrite_query,
    should_rewrite,
)

HISTORY = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Write release notes for version 2.0 of our CLI."},
    {"role": "assistant", "content": "Here are the release notes: ..."},
]


@pytest.mark.parametrize(
    ("mode", "query", "history", "expected"),
    [
        ("never", "shorter", HISTORY, False),
        ("always", "how do I parse PDF tables with python", [], True),
        ("auto", "shorter", [], False),  # nothing to resolve against
        ("auto", "shorter please", HISTORY, True),  # short follow-up
        ("auto", "now do the same for the mobile app changelog", HISTORY, True),
        ("auto", "can you translate it into German for the website", HISTORY, True),
        ("auto", "继续写下去，保持同样的格式和语气", HISTORY, True),
        ("auto", "把上面的内容改成正式的商务邮件格式", HISTORY, True),
        ("auto", "explain how kubernetes schedules pods onto nodes", HISTORY, False),
        ("auto", "   ", HISTORY, False),
        (RewriteMode.AUTO, "again", HISTORY, True),
    ],
)
def test_should_rewrite(mode, query, history, expected):
    assert should_rewrite(mode=mode, query=query, history=history) is expected


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError):
        should_rewrite(mode="sometimes", query="x", history=HISTORY)


def test_history_keeps_recent_text_turns_only():
    history = [{"role": "user", "content": f"message {n}"} for n in range(10)] + [
        {"role": "tool", "content": "tool output"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "part one"},
                {"type": "image_url", "image_url": {"url": "data:..."}},
            ],
        },
        {"role": "user", "content": "current question"},
    ]
    turns = history_messages(history, query="current question")
    assert len(turns) == 6
    assert turns[-1] == {"role": "assistant", "content": "part one"}
    assert all(t["role"] in {"user", "assistant"} for t in turns)


def run(rewriter, *, query="shorter please", timeout=1.0):
    return rewrite_query(
        query=query, history=HISTORY, mode="auto", rewriter=rewriter, timeout=timeout
    )


def test_rewrite_uses_the_model_output_and_passes_trimmed_history():
    seen = {}

    def rewriter(query, history):
        seen["args"] = (query, history)
        return "Rewritten query: shorter release notes for a CLI 2.0\n"

    result = run(rewriter)
    assert result.query == "shorter release notes for a CLI 2.0"
    assert result.rewritten is True
    assert result.reason == "short follow-up"
    assert seen["args"][0] == "shorter please"
    assert [t["role"] for t in seen["args"][1]] == ["user", "assistant"]


def test_timeout_falls_back_to_the_raw_query():
    release = threading.Event()

    def slow(query, history):
        release.wait(5)
        return "too late"

    try:
        result = run(slow, timeout=0.05)
    finally:
        release.set()
    assert (result.query, result.rewritten) == ("shorter please", False)
    assert "timed out" in result.reason


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("", "empty output"),
        ("```\n\n```", "empty output"),
        (None, "empty output"),
        ("word " * 500, "output too long"),
        ("x" * 100_000, "output too long"),
        ("Shorter Please", "unchanged"),
    ],
)
def test_bad_output_falls_back(output, reason):
    result = run(lambda q, h: output)
    assert (result.query, result.rewritten, result.reason) == (
        "shorter please",
        False,
        reason,
    )


def test_exception_falls_back():
    def broken(query, history):
        raise ConnectionError("down")

    result = run(broken)
    assert result.rewritten is False
    assert result.reason == "rewriter failed: ConnectionError"


def test_policy_and_missing_rewriter_skip_the_call():
    def never_called(query, history):
        raise AssertionError("should not be called")

    assert run(None).reason == "no rewriter"
    standalone = run(never_called, query="explain how kubernetes schedules pods")
    assert (standalone.rewritten, standalone.reason) == (False, "query stands alone")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"release notes for CLI"', "release notes for CLI"),
        ('```json\n{"query": "pdf tables"}\n```', "pdf tables"),
        ("检索词：发布说明 格式", "发布说明 格式"),
        ("first line\nsecond line", "first line"),
        ("  lots   of\tspace ", "lots of space"),
    ],
)
def test_clean_rewrite(raw, clean):
    assert clean_rewrite(raw) == clean


def test_prompt_has_our_instructions_and_the_conversation():
    messages = rewrite_prompt("make it shorter", HISTORY)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "one search query" in messages[0]["content"]
    assert (
        "same language" in messages[0]["content"]
        or "language the user" in (messages[0]["content"])
    )
    user = messages[1]["content"]
    assert "User: Write release notes" in user
    assert "Assistant: Here are" in user
    assert "You are helpful" not in user
    assert user.rstrip().endswith("Search query:")
