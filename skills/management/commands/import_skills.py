"""python manage.py import_skills DIR [--user U | --library L] [--keep-ids] [--overwrite] [--include-files]
python manage.py import_skills --skillbank DIR"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts.selectors import user_for_command
from autoskill_site.exceptions import ApplicationError
from skills.importer import (
    ImportOptions,
    ImportReport,
    Target,
    import_folders,
    plan_skillbank,
    plan_tree,
)
from skills.services import library_get_or_create

SHOWN_PROBLEMS = 50


class Command(BaseCommand):
    help = (
        "Import SKILL.md folders (Agent Skills, legacy AutoSkill or a whole SkillBank)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "directory", nargs="?", help="folder to search recursively for SKILL.md"
        )
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--user", help="import into this user's own skills")
        where.add_argument(
            "--library", help="import into this shared library (created if missing)"
        )
        where.add_argument(
            "--skillbank",
            metavar="DIR",
            help="migrate an original SkillBank (Users/, Common/)",
        )
        parser.add_argument(
            "--keep-ids",
            action="store_true",
            help="use the frontmatter id as the skill id",
        )
        parser.add_argument(
            "--overwrite", action="store_true", help="update skills that already exist"
        )
        parser.add_argument(
            "--include-files",
            action="store_true",
            help="bundle scripts/, references/, assets/",
        )
        parser.add_argument("--max-depth", type=int, default=6)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        report = ImportReport()
        import_options = ImportOptions(
            keep_ids=options["keep_ids"] or bool(options["skillbank"]),
            overwrite=options["overwrite"],
            include_files=options["include_files"] or bool(options["skillbank"]),
            max_depth=options["max_depth"],
        )
        try:
            plan = self._plan(options, report)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        bar = tqdm(
            total=len(plan),
            unit="skill",
            file=sys.stderr,
            disable=True if options["no_progress"] else None,
        )
        with bar:
            import_folders(
                plan, options=import_options, report=report, progress=bar.update
            )
        self._print(report)
        if report.errors and not (report.created or report.updated or report.unchanged):
            raise CommandError("Nothing was imported.")
        if (
            report.created or report.updated
        ) and settings.AUTOSKILL_EMBEDDINGS_PROVIDER != "none":
            # Vectors are computed here, with progress, rather than silently at exit.
            call_command("refresh_embeddings", stdout=self.stdout, stderr=self.stderr)

    def _plan(self, options: dict, report: ImportReport) -> list:
        if options["skillbank"]:
            if options["directory"]:
                raise CommandError(
                    "Give either DIR with --user/--library, or --skillbank DIR."
                )
            root = self._existing_dir(options["skillbank"])
            return plan_skillbank(root, max_depth=options["max_depth"], report=report)
        if not options["directory"]:
            raise CommandError("Give the folder to import (or --skillbank DIR).")
        root = self._existing_dir(options["directory"])
        if options["library"]:
            target = Target(library=library_get_or_create(slug=options["library"]))
        elif options["user"]:
            user = user_for_command(options["user"])
            target = Target(owner=user)
        else:
            raise CommandError(
                "Say where the skills go: --user USERNAME or --library NAME."
            )
        plan = plan_tree(root, target=target, max_depth=options["max_depth"])
        if not plan:
            raise CommandError(f"No SKILL.md found under {root}.")
        return plan

    @staticmethod
    def _existing_dir(value: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_dir():
            raise CommandError(f"{value} is not a folder.")
        return path.resolve()

    def _print(self, report: ImportReport) -> None:
        for label, problems in (("error", report.errors), ("skipped", report.skipped)):
            for source, message in problems[:SHOWN_PROBLEMS]:
                self.stderr.write(f"{label}: {source}: {message}")
            if len(problems) > SHOWN_PROBLEMS:
                self.stderr.write(
                    f"... and {len(problems) - SHOWN_PROBLEMS} more ({label})"
                )
        for source, note in report.notes[:SHOWN_PROBLEMS]:
            self.stdout.write(f"note: {source}: {note}")
        if len(report.notes) > SHOWN_PROBLEMS:
            self.stdout.write(
                f"... and {len(report.notes) - SHOWN_PROBLEMS} more notes"
            )
        if report.users_created:
            self.stdout.write(
                "Created inactive users: " + ", ".join(report.users_created)
            )
        if report.libraries:
            self.stdout.write("Libraries: " + ", ".join(sorted(report.libraries)))
        rate = report.seen / report.seconds if report.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.seen} folders in {report.seconds:.1f}s ({rate:.0f}/s): "
                f"{len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped, "
                f"{len(report.errors)} errors, {report.files} files."
            )
        )
