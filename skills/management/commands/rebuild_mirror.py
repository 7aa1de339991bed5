"""python manage.py rebuild_mirror [--check]: recreate the SkillBank folders from the database."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from skills.mirror import mirror_rebuild, store_root

SHOWN = 30


class Command(BaseCommand):
    help = "Rewrite Users/ and Common/ under AUTOSKILL_STORE_DIR from the database and report drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="only report drift; exit 1 if any"
        )

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        report = mirror_rebuild(check_only=options["check"])
        seconds = time.perf_counter() - started
        for label, items in (
            ("missing", report.missing),
            ("changed", report.changed),
            ("unexpected", report.unexpected),
        ):
            for rel in items[:SHOWN]:
                self.stdout.write(f"{label}: {rel}")
            if len(items) > SHOWN:
                self.stdout.write(f"... and {len(items) - SHOWN} more {label}")
        self.stdout.write(
            f"{report.skills} active skills under {store_root()}: {len(report.missing)} missing, "
            f"{len(report.changed)} changed, {len(report.unexpected)} unexpected files; "
            f"{len(report.written)} written in {seconds:.1f}s."
        )
        if options["check"] and report.drift:
            raise CommandError(f"The mirror has drifted ({report.drift} differences).")
