# ruff: noqa: F811 - pytest injects the fixtures imported from chat_fixtures by name
"""`manage.py chat`: the terminal chat, driven end to end through stdin."""

from __future__ import annotations

import io
import signal

import pytest
from django.core.management import CommandError, call_command

from proxy.models import ChatMessage, ChatSession
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT
from tests.proxy.chat_fixtures import (  # noqa: F401 - fixtures
    stream_then_stall,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)


def chat(*lines: str, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "chat",
        stdin=io.StringIO("".join(f"{line}\n" for line in lines)),
        stdout=out,
        stderr=err,
        **options,
    )
    return out.getvalue(), err.getvalue()


def _conversation() -> list[tuple[str, str, str]]:
    return [
        (m.role, m.content, m.status)
        for m in ChatMessage.objects.order_by("session__created_at", "seq")
    ]


def test_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        chat(user="nobody")


def test_another_users_session_cannot_be_continued(user, other_user):
    theirs = ChatSession.objects.create(owner=other_user)
    with pytest.raises(CommandError, match="No chat session"):
        chat(user="alice", session=str(theirs.pk))


def test_chat_streams_replies_and_runs_commands(upstream, user, tmp_path):
    """Messages, /paste, /file and commands in one run; replies stream to stdout."""
    # given
    skill = make_skill(owner=user, title="Release notes writer")
    notes = tmp_path / "notes.txt"
    notes.write_text("Änderungen:\n- faster search\n", encoding="utf-8")
    upstream.reply_chat("First reply.", "Pasted reply.", "File reply.")
    # when
    out, err = chat(
        "/scope user",
        "Please write the release notes for 2.0",
        "/paste",
        "line one",
        "line two",
        "/end",
        f"/file {notes}",
        "/skills",
        "/exit",
        "never read",
        user="alice",
    )
    # then
    assert err == ""
    assert "scope set to user." in out
    assert f"[skills: {skill.name} (" in out
    assert "assistant> First reply.\n" in out
    assert "Pasted reply." in out and "File reply." in out
    assert f"Sending {notes} (" in out
    assert f"{skill.pk} | v0.1.0 | {skill.name}" in out
    assert out.rstrip().endswith("Bye.")
    assert _conversation() == [
        ("user", "Please write the release notes for 2.0", "complete"),
        ("assistant", "First reply.", "complete"),
        ("user", "line one\nline two", "complete"),
        ("assistant", "Pasted reply.", "complete"),
        ("user", "Änderungen:\n- faster search\n", "complete"),
        ("assistant", "File reply.", "complete"),
    ]
    assert len(upstream.requests_to(CHAT)) == 3
    assert ChatSession.objects.get().scope == "user"


def test_paste_cancel_and_end_of_input(upstream, user):
    """/cancel drops the pasted text; Ctrl-D (end of input) leaves."""
    out, _ = chat("/paste", "secret draft", "/cancel", user="alice")
    assert "Paste cancelled." in out and out.rstrip().endswith("Bye.")
    assert _conversation() == []
    assert upstream.requests_to(CHAT) == []


def test_file_errors_are_clear(upstream, user, tmp_path):
    """Missing, oversized, non-UTF-8 and empty files are refused with the reason."""
    # given
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (2 * 1024 * 1024 + 1))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    # when
    _, err = chat(
        f"/file {tmp_path / 'missing.txt'}",
        f"/file {big}",
        f"/file {latin}",
        f"/file {empty}",
        "/file",
        user="alice",
    )
    # then
    assert f"No such file: {tmp_path / 'missing.txt'}" in err
    assert f"{big} is 2097153 bytes; the limit is 2097152 bytes (2 MB)." in err
    assert f"{latin} is not UTF-8 text (byte 3)." in err
    assert f"{empty} is empty." in err
    assert "Usage: /file PATH" in err
    assert _conversation() == []


def test_bad_command_arguments_go_to_stderr(upstream, user):
    out, err = chat("/extract_every zero", "/nope", user="alice")
    assert "Usage: /extract_every <n>" in err
    assert "Unknown command. Use /help." in err


def test_continue_a_session_and_regenerate(upstream, user):
    """--session resumes; /regenerate answers the last message again."""
    # given
    upstream.reply_chat("One.", "Two.")
    chat("hello", user="alice")
    session = ChatSession.objects.get()
    # when
    out, _ = chat("/regenerate", user="alice", session=str(session.pk), scope="common")
    # then
    assert "Two." in out
    session.refresh_from_db()
    assert session.scope == "library"
    assert _conversation() == [
        ("user", "hello", "complete"),
        ("assistant", "Two.", "complete"),
    ]


class _InterruptOnToken(io.StringIO):
    """stdout that presses Ctrl-C when the first reply token is printed."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.pressed = False

    def write(self, text: str) -> int:
        written = super().write(text)
        if text == self.token and not self.pressed:
            self.pressed = True
            signal.raise_signal(signal.SIGINT)
        return written


def test_ctrl_c_during_a_reply_stops_it_and_keeps_the_part(upstream, user):
    """SIGINT mid-reply saves the partial reply as stopped; the chat goes on."""
    # given
    stream_then_stall(upstream, ["Half an answer"])
    out = _InterruptOnToken("Half an answer")
    # when
    call_command(
        "chat",
        user="alice",
        stdin=io.StringIO("Tell me everything\n/help\n"),
        stdout=out,
        stderr=io.StringIO(),
    )
    # then
    assert out.pressed
    text = out.getvalue()
    assert "[stopped]" in text and "/extract_every" in text  # /help ran after
    assert _conversation() == [
        ("user", "Tell me everything", "complete"),
        ("assistant", "Half an answer", "stopped"),
    ]
