"""Slash commands of the chat: parsing, every command, and bad arguments."""

from __future__ import annotations

import pytest

from extraction.models import ExtractionJob, JobTrigger
from proxy.chat_commands import UNKNOWN, chat_command_run, parse_command
from proxy.chat_sessions import chat_message_append, chat_session_create
from proxy.models import ChatMessage, ChatSession
from tests.factories import make_skill

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(user, settings) -> ChatSession:
    settings.AUTOSKILL_MIN_SCORE = 0.0
    settings.AUTOSKILL_TOP_K = 5
    return chat_session_create(user=user)


def run(session: ChatSession, text: str):
    result = chat_command_run(session=session, text=text)
    assert result is not None, f"{text!r} was not taken as a command"
    return result


def _converse(session: ChatSession) -> None:
    for role, content in [
        ("user", "Write the release notes for 2.0"),
        ("assistant", "Here they are."),
        ("user", "Shorter, and no emojis."),
    ]:
        chat_message_append(session=session, role=role, content=content)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/help", ("help", "")),
        ("／HELP", ("help", "")),
        ("  /search  release notes  ", ("search", "release notes")),
        ("help", ("help", "")),
        ("skills", ("skills", "")),
        ("extract_now keep it short", ("extract_now", "keep it short")),
        ("hello there", None),
        ("helpful tips?", None),
        ("/search a\nsecond line", None),
        ("", None),
    ],
)
def test_parse_command(text, parsed):
    """Single lines starting with / or ／ (or a bare alias) are commands."""
    assert parse_command(text) == parsed


def test_plain_text_is_not_a_command(session):
    assert chat_command_run(session=session, text="What is new?") is None


def test_unknown_command(session):
    result = run(session, "/frobnicate now")
    assert (result.ok, result.text, result.command) == (False, UNKNOWN, "/frobnicate")
    # terminal-only commands are unknown to the shared set
    assert run(session, "/exit").text == UNKNOWN


def test_help_lists_every_command(session):
    text = run(session, "/help").text
    for name in ("/clear", "/skills", "/search", "/export", "/scope", "/rewrite"):
        assert name in text
    assert "/extract_every" in text and "/extract_now" in text


def test_clear_drops_messages_and_counter(session):
    # given
    _converse(session)
    ChatSession.objects.filter(pk=session.pk).update(turns_since_extraction=3)
    # when
    result = run(session, "/clear")
    # then
    assert result.ok and result.cleared and "3 messages" in result.text
    assert not ChatMessage.objects.filter(session=session).exists()
    session.refresh_from_db()
    assert session.turns_since_extraction == 0


def test_skills_lists_only_own_skills(session, user, other_user, library):
    # given
    mine = make_skill(owner=user, title="Release notes writer", version="0.2.0")
    make_skill(owner=other_user, title="Bob's secret skill")
    make_skill(library=library, title="Team library skill")
    # when
    text = run(session, "/skills").text
    # then
    assert text == f"{mine.pk} | v0.2.0 | {mine.name}"


def test_skills_when_there_are_none(session):
    assert run(session, "/skills").text == "You have no skills yet."


def test_search_uses_session_scope_and_never_rewrites(session, user, library):
    # given
    mine = make_skill(owner=user, title="Release notes writer")
    team = make_skill(library=library, title="Release notes for the team")
    # when
    everything = run(session, "/search release notes")
    run(session, "/scope user")
    own_only = run(session, "/search release notes")
    # then
    assert {h["id"] for h in everything.retrieval["hits"]} == {
        str(mine.pk),
        str(team.pk),
    }
    assert [h["id"] for h in own_only.retrieval["hits"]] == [str(mine.pk)]
    assert own_only.retrieval["rewritten"] is False
    assert own_only.retrieval["scope"] == "user"
    assert f"{mine.pk} - {mine.name}" in own_only.text


def test_search_without_a_query_or_without_hits(session):
    missing = run(session, "/search")
    assert not missing.ok and missing.text == "Usage: /search <query>"
    nothing = run(session, "/search quantum chromodynamics")
    assert nothing.ok and nothing.text.startswith("No skill matched")


def test_export_own_and_library_skills(session, user, library):
    mine = make_skill(owner=user, title="Release notes writer")
    team = make_skill(library=library, title="Team library skill")
    text = run(session, f"/export {mine.pk}").text
    assert text.startswith("---") and f'name: "{mine.name}"' in text
    assert f'name: "{team.name}"' in run(session, f"/export {team.pk}").text


def test_export_refuses_another_users_skill_and_bad_ids(session, other_user):
    theirs = make_skill(owner=other_user, title="Bob's secret skill")
    foreign = run(session, f"/export {theirs.pk}")
    assert not foreign.ok and foreign.text == f"No skill with id {theirs.pk}."
    assert "Bob" not in foreign.text
    malformed = run(session, "/export 42")
    assert not malformed.ok and "is not a skill id" in malformed.text
    missing = run(session, "/export")
    assert not missing.ok and missing.text == "Usage: /export <skill id>"


def test_scope_command(session):
    result = run(session, "/scope common")
    assert result.ok and result.settings == {"scope": "library"}
    assert session.scope == "library"
    again = run(session, "/scope library")
    assert again.ok and again.settings == {} and "already" in again.text
    bad = run(session, "/scope team")
    assert not bad.ok and "Unknown scope 'team'" in bad.text
    assert "Usage: /scope user|common|all" in bad.text
    empty = run(session, "/scope")
    assert not empty.ok and "Current scope: library" in empty.text
    session.refresh_from_db()
    assert session.scope == "library"


@pytest.mark.parametrize(
    ("command", "field"), [("/rewrite", "rewrite_mode"), ("/extract", "extract_mode")]
)
def test_mode_commands(session, command, field):
    result = run(session, f"{command} ALWAYS")
    assert result.ok and result.settings == {field: "always"}
    session.refresh_from_db()
    assert getattr(session, field) == "always"
    bad = run(session, f"{command} sometimes")
    assert not bad.ok and f"Usage: {command} auto|always|never" in bad.text
    assert not run(session, command).ok
    session.refresh_from_db()
    assert getattr(session, field) == "always"


def test_extract_every(session):
    result = run(session, "/extract_every 3")
    assert result.ok and result.settings == {"extract_turn_limit": 3}
    for bad in ("0", "-1", "x", "2.5", ""):
        refused = run(session, f"/extract_every {bad}".strip())
        assert not refused.ok and "Usage: /extract_every <n>" in refused.text
    session.refresh_from_db()
    assert session.extract_turn_limit == 3


def test_extract_now_queues_the_recent_window_with_the_hint(session, settings):
    # given
    settings.AUTOSKILL_INGEST_WINDOW = 2
    _converse(session)
    ChatSession.objects.filter(pk=session.pk).update(turns_since_extraction=2)
    # when
    result = run(session, "/extract_now focus on the tone")
    # then
    job = ExtractionJob.objects.get()
    assert result.ok and result.job_id == str(job.pk)
    assert job.trigger == JobTrigger.EXTRACT_NOW
    assert job.hint == "focus on the tone"
    assert [m["content"] for m in job.window] == [
        "Here they are.",
        "Shorter, and no emojis.",
    ]
    session.refresh_from_db()
    assert session.turns_since_extraction == 0
    # the bare alias works too, and the same window finds the same job
    again = run(session, "extract_now focus on the tone")
    assert again.job_id == str(job.pk) and "already known" in again.text


def test_extract_now_with_nothing_to_extract(session):
    result = run(session, "/extract_now")
    assert not result.ok and "holds no user message" in result.text
    assert not ExtractionJob.objects.exists()


def test_extract_now_when_extraction_is_disabled(session, settings):
    settings.AUTOSKILL_EXTRACT_ENABLED = False
    _converse(session)
    result = run(session, "/extract_now")
    assert not result.ok and "AUTOSKILL_EXTRACT_ENABLED" in result.text


def test_commands_act_only_on_the_owners_session(session, other_user):
    """A session object handed in with a foreign owner never reaches alice's row."""
    from autoskill_site.exceptions import NotFound

    intruder = ChatSession.objects.get(pk=session.pk)
    intruder.owner = other_user
    with pytest.raises(NotFound):
        chat_command_run(session=intruder, text="/clear")
