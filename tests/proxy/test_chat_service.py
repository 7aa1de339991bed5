# ruff: noqa: F811 - pytest injects the fixtures imported from chat_fixtures by name
"""The browser/terminal chat turn: retrieval, injection, streaming, stop, learning."""

from __future__ import annotations

import asyncio

import pytest
from django_tasks_db.models import DBTaskResult

from autoskill_site.exceptions import InvalidInput, NotFound
from autoskill_site.providers.upstream import upstream_aclose_all
from extraction.models import ExtractionJob, JobTrigger
from proxy.chat_service import chat_regenerate, chat_turn
from proxy.chat_sessions import (
    chat_session_configure,
    chat_session_create,
    chat_session_delete,
    chat_session_export_json,
    chat_session_get,
    chat_session_rename,
)
from proxy.models import ChatMessage, ChatSession
from tests.factories import make_skill
from tests.fakes.openai_server import CHAT
from tests.proxy.chat_fixtures import (  # noqa: F401 - fixtures
    stream_then_stall,
    turn_events,
    upstream,
)

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "Please write the release notes for 2.0"


def _messages(session: ChatSession) -> list[tuple[str, str, str]]:
    rows = ChatMessage.objects.filter(session=session).order_by("seq")
    return [(m.role, m.content, m.status) for m in rows]


def test_tokens_stream_in_order_and_join_to_the_saved_reply(upstream, user):
    """Token events arrive in the upstream's order and form the stored reply."""
    # given
    session = chat_session_create(user=user)
    upstream.reply_chat("Summary first, then breaking changes.")
    # when
    events = turn_events(chat_turn(session=session, text=QUESTION))
    # then
    kinds = [e["type"] for e in events]
    assert kinds[0] == "retrieval" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 4
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert "".join(tokens) == "Summary first, then breaking changes."
    assert tokens[0] == "Summary"
    done = events[-1]
    assert done["status"] == "complete"
    assert _messages(session) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Summary first, then breaking changes.", "complete"),
    ]
    assert ChatMessage.objects.get(pk=done["message_id"]).role == "assistant"
    sent = upstream.requests_to(CHAT)[-1].json
    assert sent["stream"] is True and sent["model"] == "fake-chat"


def test_own_skill_is_injected_as_one_system_message_never_anothers(
    upstream, user, other_user
):
    """The upstream sees ONE system message with the user's skill, not bob's."""
    # given
    mine = make_skill(owner=user, title="Release notes writer")
    theirs = make_skill(
        owner=other_user,
        title="Release notes by bob",
        instructions="BOB-SECRET release notes style.",
    )
    session = chat_session_create(user=user)
    upstream.reply_chat("ok")
    # when
    events = turn_events(chat_turn(session=session, text=QUESTION))
    # then
    sent = upstream.requests_to(CHAT)[-1].json["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert mine.name in sent[0]["content"]
    assert "BOB-SECRET" not in str(sent) and str(theirs.pk) not in str(events)
    hits = events[0]["retrieval"]["hits"]
    assert [h["id"] for h in hits] == [str(mine.pk)]
    assert hits[0]["injected"] is True


def test_retrieval_trace_is_saved_on_the_assistant_message(upstream, user):
    """Query, hits with id/name/score/source/version, injected ids and the job are kept."""
    # given
    skill = make_skill(owner=user, title="Release notes writer")
    session = chat_session_create(user=user)
    upstream.reply_chat("ok")
    # when
    done = turn_events(chat_turn(session=session, text=QUESTION))[-1]
    # then
    trace = ChatMessage.objects.get(pk=done["message_id"]).trace
    retrieval = trace["retrieval"]
    assert retrieval["original_query"] == QUESTION
    assert retrieval["rewritten_query"] is None
    assert retrieval["injected_ids"] == [str(skill.pk)]
    hit = retrieval["hits"][0]
    assert {k: hit[k] for k in ("id", "name", "version", "injected")} == {
        "id": str(skill.pk),
        "name": skill.name,
        "version": skill.version,
        "injected": True,
    }
    assert 0 <= hit["score"] <= 1 and hit["source"]
    assert trace["extraction"] == done["extraction"]
    assert trace["usage"] == {"status": "scheduled"}


def test_usage_audit_is_queued_when_own_skills_were_retrieved(upstream, user):
    """An own retrieved skill schedules the audit with the reply; none without skills."""
    # given
    skill = make_skill(owner=user, title="Release notes writer")
    session = chat_session_create(user=user)
    upstream.reply_chat("Use the template.", "Hello.")
    # when
    turn_events(chat_turn(session=session, text=QUESTION))
    library_only = chat_session_create(user=user, settings={"scope": "library"})
    turn_events(chat_turn(session=library_only, text=QUESTION))
    # then
    audits = list(DBTaskResult.objects.filter(queue_name="audit"))
    assert len(audits) == 1
    kwargs = audits[0].args_kwargs["kwargs"]
    assert kwargs["reply"] == "Use the template."
    assert kwargs["injected_ids"] == [str(skill.pk)]


def test_offline_provider_streams_a_reply(user, settings):
    """With the built-in offline provider the turn also streams and saves."""
    # given
    settings.AUTOSKILL_LLM_PROVIDER = "offline"
    settings.AUTOSKILL_REWRITE_MODE = "never"
    session = chat_session_create(user=user)
    # when
    events = turn_events(chat_turn(session=session, text="How do I write a changelog?"))
    # then
    text = "".join(e["text"] for e in events if e["type"] == "token")
    assert text.strip()
    assert events[-1]["status"] == "complete"
    assert _messages(session)[-1] == ("assistant", text, "complete")


def test_stop_mid_stream_saves_the_partial_reply_as_stopped(upstream, user):
    """stop() ends the reply while the upstream is silent; what came is kept."""
    # given
    session = chat_session_create(user=user)
    stream_then_stall(upstream, ["Part one,", " part two"])
    turn = chat_turn(session=session, text=QUESTION)

    async def drive():
        seen = []
        try:
            async for event in turn.events():
                seen.append(event)
                if [e["text"] for e in seen if e["type"] == "token"] == [
                    "Part one,",
                    " part two",
                ]:
                    turn.stop()
        finally:
            await upstream_aclose_all()
        return seen

    # when
    events = asyncio.run(drive())
    # then
    assert events[-1]["type"] == "done" and events[-1]["status"] == "stopped"
    assert _messages(session)[-1] == ("assistant", "Part one, part two", "stopped")


def test_cancelling_the_task_saves_the_partial_reply_as_stopped(upstream, user):
    """A consumer that cancels the turn's task still leaves a stopped message."""
    # given
    session = chat_session_create(user=user)
    stream_then_stall(upstream, ["Only this"])
    turn = chat_turn(session=session, text=QUESTION)

    async def drive():
        first_token = asyncio.Event()

        async def consume():
            async for event in turn.events():
                if event["type"] == "token":
                    first_token.set()

        task = asyncio.create_task(consume())
        await first_token.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await upstream_aclose_all()

    # when
    asyncio.run(drive())
    # then
    assert _messages(session) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Only this", "stopped"),
    ]


def test_regenerate_replaces_the_last_reply(upstream, user):
    """Regenerate drops the last reply and asks the same user message again."""
    # given
    session = chat_session_create(user=user)
    upstream.reply_chat("First answer.", "Second answer.")
    turn_events(chat_turn(session=session, text=QUESTION))
    # when
    events = turn_events(chat_regenerate(session=session))
    # then
    assert events[0]["regenerated"] is True
    assert events[-1]["extraction"]["reason"] == "regenerated"
    assert _messages(session) == [
        ("user", QUESTION, "complete"),
        ("assistant", "Second answer.", "complete"),
    ]
    first, second = upstream.requests_to(CHAT)
    assert first.json["messages"] == second.json["messages"]


def test_regenerate_without_a_user_message_is_refused(upstream, user):
    """An empty session has nothing to regenerate."""
    session = chat_session_create(user=user)
    with pytest.raises(InvalidInput, match="no user message"):
        turn_events(chat_regenerate(session=session))


def test_upstream_failure_is_an_error_event_and_left_out_of_history(upstream, user):
    """A failed reply is saved as an error and never sent upstream again."""
    # given
    session = chat_session_create(user=user)
    upstream.fail(CHAT, 500, "model exploded")
    upstream.reply_chat("Recovered.")
    # when
    failed = turn_events(chat_turn(session=session, text="first question"))
    turn_events(chat_turn(session=session, text="second question"))
    # then
    assert [e["type"] for e in failed] == ["retrieval", "error", "done"]
    assert "model exploded" in failed[1]["message"]
    assert failed[-1]["status"] == "error"
    assert failed[-1]["extraction"]["status"] == "skipped"
    saved = ChatMessage.objects.get(pk=failed[-1]["message_id"])
    assert saved.status == "error" and "model exploded" in saved.error
    sent = upstream.requests_to(CHAT)[-1].json["messages"]
    assert [m["content"] for m in sent] == ["first question", "second question"]


def test_empty_message_is_refused(user):
    session = chat_session_create(user=user)
    with pytest.raises(InvalidInput, match="empty"):
        chat_turn(session=session, text="   ")


def _extractions(events_list):
    return [events[-1]["extraction"] for events in events_list]


def test_extract_always_submits_from_the_second_turn(upstream, user, settings):
    """`always`: every turn with an earlier reply in the window queues chat_auto."""
    # given
    settings.AUTOSKILL_INGEST_WINDOW = 6
    skill = make_skill(owner=user, title="Release notes writer")
    session = chat_session_create(user=user, settings={"extract_mode": "always"})
    upstream.reply_chat("Draft one.", "Draft two.")
    # when
    runs = [
        turn_events(chat_turn(session=session, text=QUESTION)),
        turn_events(chat_turn(session=session, text="No emojis, please.")),
    ]
    # then
    first, second = _extractions(runs)
    assert first["status"] == "skipped" and first["job_id"] is None
    job = ExtractionJob.objects.get()
    assert second == {
        "job_id": str(job.pk),
        "status": job.status,
        "trigger": "chat_auto",
        "new": True,
    }
    assert job.trigger == JobTrigger.CHAT_AUTO
    # the window ends with the user's reaction; the new reply is not evidence
    assert [m["content"] for m in job.window] == [
        QUESTION,
        "Draft one.",
        "No emojis, please.",
    ]
    assert job.reference["id"] == str(skill.pk)
    assert job.source["session_id"] == str(session.pk)


def test_extract_never_queues_nothing(upstream, user):
    session = chat_session_create(user=user, settings={"extract_mode": "never"})
    upstream.reply_chat("a", "b")
    runs = [
        turn_events(chat_turn(session=session, text="one")),
        turn_events(chat_turn(session=session, text="two")),
    ]
    assert [x["status"] for x in _extractions(runs)] == ["not_due", "not_due"]
    assert not ExtractionJob.objects.exists()


def test_extract_auto_every_two_turns(upstream, user):
    """`auto` with extract_every 2 extracts on turns 2 and 4 and resets the counter."""
    # given
    session = chat_session_create(
        user=user, settings={"extract_mode": "auto", "extract_turn_limit": 2}
    )
    upstream.reply_chat("r1", "r2", "r3", "r4")
    # when
    runs = [
        turn_events(chat_turn(session=session, text=f"question {n}"))
        for n in range(1, 5)
    ]
    # then
    statuses = [x["status"] for x in _extractions(runs)]
    assert statuses[0] == "not_due" and statuses[2] == "not_due"
    assert statuses[1] == statuses[3] == "scheduled"
    assert ExtractionJob.objects.count() == 2
    session.refresh_from_db()
    assert session.turns_since_extraction == 0


def test_session_settings_drive_retrieval(upstream, user, library):
    """Scope `user` hides library skills; scope `all` with top_k 1 keeps one hit."""
    # given
    team = make_skill(library=library, title="Release notes (team)")
    make_skill(owner=user, title="Release notes writer")
    session = chat_session_create(user=user, settings={"scope": "user", "top_k": 3})
    upstream.reply_chat("a", "b")
    # when
    by_scope = turn_events(chat_turn(session=session, text=QUESTION))[0]["retrieval"]
    chat_session_configure(
        user=user, session_id=session.pk, changes={"scope": "all", "top_k": 1}
    )
    by_top_k = turn_events(chat_turn(session=session, text=QUESTION))[0]["retrieval"]
    # then
    assert by_scope["scope"] == "user" and len(by_scope["hits"]) == 1
    assert str(team.pk) not in [h["id"] for h in by_scope["hits"]]
    assert by_top_k["scope"] == "all" and by_top_k["top_k"] == 1
    assert len(by_top_k["hits"]) == 1


def test_another_user_can_never_reach_a_session(user, other_user):
    """Load, rename, delete and export of alice's session are NotFound for bob."""
    # given
    session = chat_session_create(user=user, title="Alice's chat")
    # when / then
    for call in (
        lambda: chat_session_get(user=other_user, session_id=session.pk),
        lambda: chat_session_rename(user=other_user, session_id=session.pk, title="x"),
        lambda: chat_session_delete(user=other_user, session_id=session.pk),
        lambda: chat_session_export_json(user=other_user, session_id=session.pk),
        lambda: chat_session_configure(
            user=other_user, session_id=session.pk, changes={"top_k": 2}
        ),
        lambda: chat_session_get(user=user, session_id="not-a-uuid"),
    ):
        with pytest.raises(NotFound):
            call()
    session.refresh_from_db()
    assert session.title == "Alice's chat"


def test_rename_delete_and_export(upstream, user):
    """Sessions are renamed, exported with their traces, and deleted with messages."""
    # given
    session = chat_session_create(user=user)
    upstream.reply_chat("Answer.")
    turn_events(chat_turn(session=session, text="  A first   question  "))
    session.refresh_from_db()
    assert session.title == "A first question"
    # when
    chat_session_rename(user=user, session_id=session.pk, title="  Release  work ")
    exported = chat_session_export_json(user=user, session_id=session.pk)
    chat_session_delete(user=user, session_id=session.pk)
    # then
    assert exported["session"]["title"] == "Release work"
    assert exported["session"]["settings"]["scope"] == "all"
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]
    assert exported["messages"][1]["trace"]["retrieval"]["original_query"]
    assert not ChatSession.objects.exists() and not ChatMessage.objects.exists()
    with pytest.raises(InvalidInput, match="empty"):
        chat_session_rename(
            user=user, session_id=chat_session_create(user=user).pk, title=" "
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scope": "team"}, "scope must be one of"),
        ({"top_k": 0}, "top_k must be a whole number between 1 and 200"),
        ({"min_score": "high"}, "min_score must be a number from 0 to 1"),
        ({"rewrite_mode": "sometimes"}, "rewrite_mode must be one of"),
        ({"extract_mode": "often"}, "extract_mode must be one of"),
        ({"extract_turn_limit": 0}, "extract_turn_limit must be a whole number >= 1"),
        ({"temperature": 1}, "Unknown chat setting"),
    ],
)
def test_bad_settings_are_refused(user, changes, message):
    with pytest.raises(InvalidInput, match=message):
        chat_session_create(user=user, settings=changes)
