"""python manage.py import_trajectories FILE_OR_DIR --user U [--success-only [1|0]]
[--include-tool-events [1|0]] [--hint TEXT] [--concurrency N] [--continue-on-error [1|0]]
[--dry-run] [--report FILE.json] [--llm-provider P] [--llm-model M] [--embeddings-provider E]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from extraction.importing.service import import_trajectories
from extraction.management.commands.import_conversations import (
    ImportCommand,
    add_flag,
)


class Command(ImportCommand):
    help = (
        "Learn workflow skills from agent trajectories "
        "(.json, .jsonl, .txt, .md, .log files or a directory)."
    )
    unit = "trajectory"
    units = "trajectories"

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_common_arguments(parser)
        add_flag(parser, "--success-only", help="skip runs that failed (default 1)")
        add_flag(
            parser,
            "--include-tool-events",
            help="pass tool events and tool results to extraction (default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.run_import(
            options,
            import_trajectories,
            success_only=options["success_only"],
            include_tool_events=options["include_tool_events"],
        )
