"""Run a django-tasks `db_worker` for the extraction queues, plus the lease reaper.

db_worker alone never notices a job whose worker died (django-tasks-db has no
reaper), so this command reaps expired leases at start and then periodically.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from extraction.jobs import jobs_reap


class Command(BaseCommand):
    help = "Run background jobs (extraction, usage audit) and resume jobs whose worker died."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queues", default="extraction,audit,default")
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Queue poll interval in seconds.",
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run what is queued, then exit."
        )

    def handle(self, *args, **options) -> None:
        reaped = jobs_reap()
        if reaped:
            self.stdout.write(f"Resumed {len(reaped)} job(s) whose worker had stopped.")
        stop = threading.Event()
        reaper = threading.Thread(
            target=self._reap_forever, args=(stop,), name="job-reaper", daemon=True
        )
        reaper.start()
        try:
            call_command(
                "db_worker",
                queue_name=options["queues"],
                interval=options["interval"],
                batch=options["batch"],
                reload=False,
                startup_delay=False,
                verbosity=options["verbosity"],
            )
        finally:
            stop.set()
            reaper.join(timeout=5)

    def _reap_forever(self, stop: threading.Event) -> None:
        period = max(1.0, settings.AUTOSKILL_JOB_LEASE_SECONDS / 2)
        try:
            while not stop.wait(period):
                jobs_reap()
        finally:
            connections.close_all()
