"""python manage.py startup_maintenance [--blocking] [--skip-refresh]

The original's startup maintenance (ref-core.md 7.2) on the database as truth, run
by `serve` and scripts/run beside the server (it never delays the first request):

0. AUTOSKILL_PROXY_API_KEY: register the static proxy key for AUTOSKILL_USER_ID.
1. AUTOSKILL_AUTO_NORMALIZE_IDS: heal the SkillBank mirror (skills/startup.py).
2. AUTOSKILL_AUTO_IMPORT_DIRS: import skill folders into a library or a user.
3. AUTOSKILL_AUTO_REFRESH_SKILLS: queue the vector and index refresh for the worker
   (inline with --blocking or AUTOSKILL_AUTO_REFRESH_BLOCKING).

A failing step is reported and the next one still runs, as in the original; the
exit status is 1 when any step failed, so scripts can tell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from autoskill_site.exceptions import ApplicationError

SHOWN = 20


class Command(BaseCommand):
    help = (
        "Heal the SkillBank mirror, import AUTOSKILL_AUTO_IMPORT_DIRS and refresh "
        "the search indexes (the original's startup maintenance)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--blocking",
            action="store_true",
            help="refresh vectors and indexes here instead of queueing a job",
        )
        parser.add_argument(
            "--skip-refresh", action="store_true", help="leave the indexes alone"
        )

    def handle(self, *args, **options) -> None:
        from retrieval.tasks import embeddings_left_to_refresh

        refresh = settings.AUTOSKILL_AUTO_REFRESH_SKILLS and not options["skip_refresh"]
        blocking = options["blocking"] or settings.AUTOSKILL_AUTO_REFRESH_BLOCKING
        steps: list[tuple[str, bool, Callable[[], None]]] = [
            ("static key", bool(settings.AUTOSKILL_PROXY_API_KEY), self._static_key),
            ("mirror", settings.AUTOSKILL_AUTO_NORMALIZE_IDS, self._heal),
            ("import", bool(settings.AUTOSKILL_AUTO_IMPORT_DIRS), self._import),
        ]
        # With a queued refresh, imported skills get their vectors in the worker: this
        # process must not hold the start until it has embedded them itself.
        deferred = (
            embeddings_left_to_refresh()
            if refresh and not blocking
            else contextlib.nullcontext()
        )
        with deferred:
            failed = self._steps(steps)
        if refresh:
            failed += self._steps([("refresh", True, lambda: self._refresh(blocking))])
        if failed:
            raise CommandError(f"Startup maintenance failed: {', '.join(failed)}.")

    def _steps(self, steps: list[tuple[str, bool, Callable[[], None]]]) -> list[str]:
        """Run the wanted steps; a failure is reported and the next step still runs."""
        failed = []
        for name, wanted, step in steps:
            if not wanted:
                continue
            try:
                step()
            except (ApplicationError, CommandError, OSError) as exc:
                failed.append(name)
                self.stderr.write(f"{name}: failed: {getattr(exc, 'message', exc)}")
        return failed

    def _static_key(self) -> None:
        from proxy.static_key import api_key_set_static, user_for_service

        user, created = user_for_service(username=settings.AUTOSKILL_USER_ID)
        result = api_key_set_static(owner=user, secret=settings.AUTOSKILL_PROXY_API_KEY)
        what = "registered" if result.created else "already registered"
        self.stdout.write(
            f"static key: {what} as {result.api_key.prefix} for user "
            f"{user.get_username()}{' (created)' if created else ''}"
            + (
                f"; {result.revoked} earlier static key(s) revoked"
                if result.revoked
                else ""
            )
        )

    def _heal(self) -> None:
        from skills.startup import startup_heal_mirror

        heal = startup_heal_mirror()
        if heal.adopted is not None:
            report = heal.adopted
            self.stdout.write(
                f"mirror: adopted the SkillBank: {len(report.created)} skills imported, "
                f"{len(report.errors)} errors"
            )
            for source, message in report.errors[:SHOWN]:
                self.stderr.write(f"mirror: error: {source}: {message}")
        self.stdout.write(
            f"mirror: {heal.skills} active skills; {heal.rewritten} folder(s) rewritten "
            "from the database"
        )
        if heal.unknown_folders:
            self.stdout.write(
                f"mirror: {len(heal.unknown_folders)} folder(s) are not in the database "
                "and were left alone (import them with import_skills, or remove them "
                "with rebuild_mirror):"
            )
            for rel in heal.unknown_folders[:SHOWN]:
                self.stdout.write(f"  {rel}")

    def _import(self) -> None:
        from proxy.static_key import user_for_service
        from skills.startup import auto_import_config, startup_auto_import

        config = auto_import_config()
        owner = None
        if config.scope == "user":
            owner, _ = user_for_service(username=config.username)
        problems = 0
        for run in startup_auto_import(config=config, owner=owner):
            if run.error:
                problems += 1
                self.stderr.write(f"import: {run.source}: {run.error}")
                continue
            report = run.report
            self.stdout.write(
                f"import: {run.source} -> {run.target}: {len(report.created)} created, "
                f"{len(report.updated)} updated, {len(report.unchanged)} unchanged, "
                f"{len(report.skipped)} skipped, {len(report.errors)} errors"
            )
            for source, message in (report.errors + report.skipped)[:SHOWN]:
                self.stderr.write(f"import: {source}: {message}")
        if problems:
            raise CommandError(f"{problems} import folder(s) could not be used")

    def _refresh(self, blocking: bool) -> None:
        from retrieval.tasks import index_refresh, refresh_indexes

        force = settings.AUTOSKILL_AUTO_REFRESH_FORCE_VECTORS
        if blocking:
            self.stdout.write(
                f"refresh: {index_refresh(force_vectors=force).summary()}"
            )
            return
        result = refresh_indexes.enqueue(force_vectors=force)
        self.stdout.write(f"refresh: queued for the worker (task {result.id})")
