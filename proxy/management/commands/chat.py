"""python manage.py chat --user U [--session ID] [--scope ...]: chat in the terminal.

The browser chat's turn engine and slash commands, for people who live in a shell
(the original's `interactive_chat`). Replies stream to stdout. Besides the shared
commands: `/paste` (multi-line message until `/end`; `/cancel` aborts), `/file PATH`
(send a UTF-8 text file of at most 2 MB), `/regenerate` (answer the last message
again), `/exit` and `/quit`. Ctrl-C during a reply stops it (the partial reply is
kept as stopped); Ctrl-D leaves. Input is read line by line from stdin, so a script
or a test can feed it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_for_command
from autoskill_site.exceptions import ApplicationError
from autoskill_site.providers.upstream import upstream_aclose_all
from proxy.chat_commands import chat_command_run, parse_command
from proxy.chat_service import ChatTurn, chat_regenerate, chat_turn
from proxy.chat_sessions import (
    chat_session_configure,
    chat_session_create,
    chat_session_get,
)
from proxy.models import ChatSession

MAX_FILE_BYTES = 2 * 1024 * 1024
LEAVE = ("exit", "quit")


class Command(BaseCommand):
    help = "Chat with skills injected, in the terminal (same engine as the browser)."
    # call_command(stdin=...) feeds input in tests and scripts.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username to chat as")
        parser.add_argument(
            "--session", default=None, help="id of one of your sessions to continue"
        )
        parser.add_argument(
            "--scope",
            default=None,
            help="skills retrieval sees: user, common (= library) or all",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_for_command(options["user"])
        if not user.is_active:
            raise CommandError(f"User {options['user']!r} is inactive.")
        session = self._session(user, options["session"], options["scope"])
        self._in: TextIO = options.get("stdin") or sys.stdin
        self._interactive = self._in.isatty()
        self.stdout.write(
            f"Chat session {session.pk} ({session.title}) as {user.get_username()}, "
            f"scope {session.scope}. /help for commands, /exit or Ctrl-D to leave."
        )
        # asyncio.Runner turns Ctrl-C into cancelling the reply only when SIGINT has
        # Python's default handler; make sure it has, whatever ran in this process before.
        restore = None
        if threading.current_thread() is threading.main_thread():
            restore = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with asyncio.Runner() as runner:
                try:
                    self._loop(session, runner)
                finally:
                    # Pooled upstream connections belong to this loop; close them with it.
                    runner.run(upstream_aclose_all())
        finally:
            if restore is not None:
                signal.signal(signal.SIGINT, restore)

    def _session(
        self, user: Any, session_id: str | None, scope: str | None
    ) -> ChatSession:
        try:
            if session_id is None:
                settings = {"scope": scope} if scope else {}
                return chat_session_create(user=user, settings=settings)
            session = chat_session_get(user=user, session_id=session_id)
            if scope:
                chat_session_configure(
                    user=user, session_id=session.pk, changes={"scope": scope}
                )
                session.refresh_from_db()
            return session
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _read(self, prompt: str) -> str | None:
        """One line without its newline; None at end of input (Ctrl-D)."""
        if self._interactive:
            self.stdout.write(prompt, ending="")
            self.stdout.flush()
        line = self._in.readline()
        if not line:
            return None
        return line.rstrip("\r\n")

    def _loop(self, session: ChatSession, runner: asyncio.Runner) -> None:
        while True:
            try:
                line = self._read("you> ")
            except KeyboardInterrupt:
                self.stdout.write("\n(Ctrl-D or /exit to leave)")
                continue
            if line is None:
                self.stdout.write("\nBye.")
                return
            if not line.strip():
                continue
            parsed = parse_command(line)
            name, arg = parsed if parsed else ("", "")
            if name in LEAVE or line.strip().lower() in LEAVE:
                self.stdout.write("Bye.")
                return
            if parsed and name == "paste":
                line = self._paste()
                if line is None:
                    continue
            elif parsed and name == "file":
                line = self._file(arg)
                if line is None:
                    continue
            elif parsed and name == "regenerate":
                self._run(runner, lambda: chat_regenerate(session=session))
                continue
            elif parsed:
                self._command(session, line)
                continue
            self._run(runner, lambda text=line: chat_turn(session=session, text=text))

    def _command(self, session: ChatSession, line: str) -> None:
        result = chat_command_run(session=session, text=line)
        if result is None:  # parse_command said it was one; never happens
            return
        write = self.stdout.write if result.ok else self.stderr.write
        write(result.text)

    def _paste(self) -> str | None:
        self.stdout.write(
            "Paste your message; end with /end on its own line (/cancel aborts)."
        )
        lines: list[str] = []
        while True:
            line = self._read("... ")
            if line is None or line.strip() in ("/cancel", "／cancel"):
                self.stdout.write("Paste cancelled.")
                return None
            if line.strip() in ("/end", "／end"):
                break
            lines.append(line)
        text = "\n".join(lines)
        if not text.strip():
            self.stderr.write("Nothing was pasted.")
            return None
        return text

    def _file(self, raw_path: str) -> str | None:
        if not raw_path:
            self.stderr.write("Usage: /file PATH (a UTF-8 text file of at most 2 MB)")
            return None
        path = Path(raw_path.strip().strip("'\"")).expanduser()
        if not path.is_file():
            self.stderr.write(f"No such file: {path}")
            return None
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            self.stderr.write(
                f"{path} is {size} bytes; the limit is {MAX_FILE_BYTES} bytes (2 MB)."
            )
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            self.stderr.write(f"{path} is not UTF-8 text (byte {exc.start}).")
            return None
        except OSError as exc:
            self.stderr.write(f"Cannot read {path}: {exc.strerror}.")
            return None
        if not text.strip():
            self.stderr.write(f"{path} is empty.")
            return None
        self.stdout.write(f"Sending {path} ({len(text)} characters).")
        return text

    def _run(self, runner: asyncio.Runner, make_turn: Any) -> None:
        try:
            turn = make_turn()
        except ApplicationError as exc:
            self.stderr.write(exc.message)
            return
        try:
            runner.run(self._stream(turn))
        except KeyboardInterrupt:
            # The runner cancelled the turn, which saved the partial reply.
            self.stdout.write("\n[stopped]")
        except ApplicationError as exc:
            self.stderr.write(exc.message)

    async def _stream(self, turn: ChatTurn) -> None:
        async for event in turn.events():
            kind = event["type"]
            if kind == "retrieval":
                self._retrieval(event["retrieval"])
            elif kind == "token":
                self.stdout.write(event["text"], ending="")
                self.stdout.flush()
            elif kind == "error":
                self.stderr.write(f"\n[error] {event['message']}")
            elif kind == "done":
                self._done(event)

    def _retrieval(self, retrieval: dict[str, Any]) -> None:
        injected = [hit for hit in retrieval["hits"] if hit["injected"]]
        if injected:
            names = ", ".join(f"{hit['name']} ({hit['score']:.2f})" for hit in injected)
            self.stdout.write(f"[skills: {names}]")
        if retrieval.get("rewritten"):
            self.stdout.write(f"[search: {retrieval['search_query']}]")
        self.stdout.write("assistant> ", ending="")
        self.stdout.flush()

    def _done(self, event: dict[str, Any]) -> None:
        self.stdout.write("")
        if event["status"] == "stopped":
            self.stdout.write("[stopped]")
        extraction = event["extraction"]
        if extraction.get("job_id"):
            self.stdout.write(
                f"[extraction {extraction['status']}: job {extraction['job_id']}]"
            )
