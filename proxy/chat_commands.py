"""Slash commands of the browser and terminal chat (the original's interactive commands).

A command is a single line starting with `/` or the full-width `／`; the bare words
`help`, `clear`, `skills` and `extract_now [hint]` work too. Multi-line input is
never a command. Each command answers a `CommandResult`: the text to show, the
settings it changed, and the extraction job it queued. Bad arguments give `ok=False`
and a message saying what is expected; nothing is changed then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q

from autoskill_site.exceptions import ApplicationError, InvalidInput
from extraction.models import JobTrigger
from extraction.services.run import extraction_submit
from proxy.api.skills_common import current_skill_md, skill_for_read
from proxy.chat_service import retrieval_trace
from proxy.chat_sessions import (
    chat_history,
    chat_session_clear,
    chat_session_configure,
    chat_session_get,
)
from proxy.engine import db_hop
from proxy.models import ChatSession
from proxy.turn_retrieval import retrieve_turn
from retrieval.search import normalise_scope
from skills.models import Skill, SkillStatus

__all__ = [
    "CommandResult",
    "chat_command_run",
    "chat_command_run_async",
    "parse_command",
]

PREFIXES = ("/", "／")
BARE_COMMANDS = ("help", "clear", "skills")
MAX_LISTED_SKILLS = 400
MAX_EXPORT_CHARS = 20_000
UNKNOWN = "Unknown command. Use /help."

HELP = """Commands:
/help                       this list
/clear                      start the conversation over (messages and extraction counter)
/skills                     your skills: id | v<version> | name
/search <query>             retrieval with this session's scope, top_k and min_score (no rewrite)
/export <skill id>          the SKILL.md of one of your skills or a library skill
/scope user|common|all      which skills retrieval sees (common = library skills)
/rewrite auto|always|never  query rewriting before retrieval
/extract auto|always|never  when a turn is sent to skill extraction
/extract_every <n>          in auto mode, extract once every n user turns
/extract_now [hint]         extract from the recent messages now, steered by the hint
Extraction runs in the background: in auto mode every n turns (/extract_every), over
the recent messages ending with your latest one."""


@dataclass
class CommandResult:
    """What a command did: `text` to show, `settings` it changed, a queued `job_id`."""

    command: str
    text: str
    ok: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    retrieval: dict[str, Any] | None = None
    cleared: bool = False

    def as_event(self) -> dict[str, Any]:
        """The `command` event the consumer sends."""
        return {
            "type": "command",
            "command": self.command,
            "ok": self.ok,
            "text": self.text,
            "settings": self.settings,
            "job_id": self.job_id,
            "retrieval": self.retrieval,
            "cleared": self.cleared,
        }


def parse_command(text: str) -> tuple[str, str] | None:
    """(name, argument) when `text` is a command, else None. Names are lowercased."""
    line = text.strip()
    if not line or "\n" in line:
        return None
    if line.startswith(PREFIXES):
        name, _, arg = line[1:].partition(" ")
        return name.strip().lower(), arg.strip()
    word, _, arg = line.partition(" ")
    if word.lower() == "extract_now":
        return "extract_now", arg.strip()
    if line.lower() in BARE_COMMANDS:
        return line.lower(), ""
    return None


def _usage(command: str, usage: str, detail: str = "") -> CommandResult:
    text = f"{detail} " if detail else ""
    return CommandResult(
        command=command, text=f"{text}Usage: {usage}".strip(), ok=False
    )


def _set(session: ChatSession, command: str, name: str, value: object) -> CommandResult:
    try:
        changed = chat_session_configure(
            user=session.owner, session_id=session.pk, changes={name: value}
        )
    except InvalidInput as exc:
        return CommandResult(command=command, text=exc.message, ok=False)
    session.refresh_from_db()
    current = getattr(session, name)
    verb = "set to" if changed else "already"
    return CommandResult(
        command=command, text=f"{name} {verb} {current}.", settings=changed
    )


def _help(session: ChatSession, arg: str) -> CommandResult:
    return CommandResult(command="/help", text=HELP)


def _clear(session: ChatSession, arg: str) -> CommandResult:
    deleted = chat_session_clear(session=session)
    return CommandResult(
        command="/clear",
        text=f"Conversation cleared ({deleted} messages removed).",
        cleared=True,
        settings={"turns_since_extraction": 0},
    )


def _skills(session: ChatSession, arg: str) -> CommandResult:
    own = Skill.objects.filter(
        Q(owner_id=session.owner_id, library__isnull=True)
        & ~Q(status=SkillStatus.ARCHIVED)
    ).order_by("name")
    total = own.count()
    if not total:
        return CommandResult(command="/skills", text="You have no skills yet.")
    rows = own.values_list("id", "version", "name")[:MAX_LISTED_SKILLS]
    lines = [f"{pk} | v{version} | {name}" for pk, version, name in rows]
    if total > MAX_LISTED_SKILLS:
        lines.append(f"… and {total - MAX_LISTED_SKILLS} more.")
    return CommandResult(command="/skills", text="\n".join(lines))


def _search(session: ChatSession, arg: str) -> CommandResult:
    if not arg:
        return _usage("/search", "/search <query>")
    found = retrieve_turn(
        user=session.owner,
        query=arg,
        messages=[],
        scope=session.scope,
        top_k=session.top_k,
        min_score=session.min_score,
        rewrite_mode="never",
    )
    trace = retrieval_trace(found)
    if found.error:
        return CommandResult(
            command="/search", text=found.error, ok=False, retrieval=trace
        )
    lines = [
        f"{hit['score']:.3f} - {hit['id']} - {hit['name']} ({hit['source']})"
        for hit in trace["hits"]
    ]
    text = "\n".join(lines) or (
        f"No skill matched (scope {session.scope}, min_score {session.min_score})."
    )
    return CommandResult(command="/search", text=text, retrieval=trace)


def _export(session: ChatSession, arg: str) -> CommandResult:
    if not arg:
        return _usage("/export", "/export <skill id>")
    try:
        skill = skill_for_read(session.owner, arg)
        text = current_skill_md(skill)
    except ApplicationError as exc:
        return CommandResult(command="/export", text=exc.message, ok=False)
    if len(text) > MAX_EXPORT_CHARS:
        text = (
            text[:MAX_EXPORT_CHARS]
            + f"\n… (truncated at {MAX_EXPORT_CHARS} of {len(text)} characters)"
        )
    return CommandResult(command="/export", text=text)


def _scope(session: ChatSession, arg: str) -> CommandResult:
    if not arg:
        return _usage(
            "/scope", "/scope user|common|all", f"Current scope: {session.scope}."
        )
    try:
        value = normalise_scope(arg)
    except InvalidInput:
        return _usage("/scope", "/scope user|common|all", f"Unknown scope {arg!r}.")
    return _set(session, "/scope", "scope", value)


def _mode(name: str, command: str) -> Callable[[ChatSession, str], CommandResult]:
    def run(session: ChatSession, arg: str) -> CommandResult:
        usage = f"{command} auto|always|never"
        if not arg:
            current = getattr(session, name)
            return _usage(command, usage, f"Current {name}: {current}.")
        if arg.lower() not in ("auto", "always", "never"):
            return _usage(command, usage, f"Unknown mode {arg!r}.")
        return _set(session, command, name, arg.lower())

    return run


def _extract_every(session: ChatSession, arg: str) -> CommandResult:
    usage = "/extract_every <n> (a whole number >= 1)"
    if not arg:
        current = session.extract_turn_limit
        return _usage("/extract_every", usage, f"Current: every {current} turns.")
    if not arg.isdigit() or int(arg) < 1:
        return _usage("/extract_every", usage, f"{arg!r} is not a whole number >= 1.")
    return _set(session, "/extract_every", "extract_turn_limit", int(arg))


def _extract_now(session: ChatSession, arg: str) -> CommandResult:
    window = chat_history(session=session)[-int(settings.AUTOSKILL_INGEST_WINDOW) :]
    try:
        job, created = extraction_submit(
            user=session.owner,
            messages=window,
            trigger=JobTrigger.EXTRACT_NOW,
            hint=arg or None,
            source={"channel": "chat", "session_id": str(session.pk)},
            max_messages=len(window) or None,
        )
    except ApplicationError as exc:
        return CommandResult(command="/extract_now", text=exc.message, ok=False)
    # The recent window has just been sent: auto mode starts counting again.
    session.turns_since_extraction = 0
    session.save(update_fields=["turns_since_extraction", "updated_at"])
    state = "scheduled" if created else f"already known ({job.status})"
    hint = f" with hint {arg!r}" if arg else ""
    return CommandResult(
        command="/extract_now",
        text=f"Extraction {state}{hint}: job {job.pk}.",
        job_id=str(job.pk),
        settings={"turns_since_extraction": 0},
    )


COMMANDS: dict[str, Callable[[ChatSession, str], CommandResult]] = {
    "help": _help,
    "clear": _clear,
    "skills": _skills,
    "search": _search,
    "export": _export,
    "scope": _scope,
    "rewrite": _mode("rewrite_mode", "/rewrite"),
    "extract": _mode("extract_mode", "/extract"),
    "extract_every": _extract_every,
    "extract_now": _extract_now,
}


def chat_command_run(*, session: ChatSession, text: str) -> CommandResult | None:
    """Run `text` as a command of `session` (already loaded for its owner); None when
    `text` is not a command. The session object is refreshed with any change."""
    parsed = parse_command(text)
    if parsed is None:
        return None
    name, arg = parsed
    handler = COMMANDS.get(name)
    if handler is None:
        return CommandResult(command=f"/{name}", text=UNKNOWN, ok=False)
    # Re-read under the owner: a stale or foreign session object never acts.
    fresh = chat_session_get(user=session.owner, session_id=session.pk)
    result = handler(fresh, arg)
    session.refresh_from_db()
    return result


chat_command_run_async = db_hop(chat_command_run)
