"""Delete finished extraction jobs (and their events) older than a number of days.

Skill versions keep the job id they came from as a plain UUID, so history stays
intact; only the job's evidence window and decision record go.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from extraction.models import TERMINAL_STATUSES, ExtractionJob


class Command(BaseCommand):
    help = "Delete completed and failed extraction jobs older than --days (default 30)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=options["days"])
        old = ExtractionJob.objects.filter(
            status__in=TERMINAL_STATUSES, finished_at__lt=cutoff
        )
        count = old.count()
        if not options["dry_run"]:
            old.delete()
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} job(s) finished before {cutoff:%Y-%m-%d}.")
