"""python manage.py export_skills OUT [--user U | --library L] [--format agentskills|zip]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_for_command
from skills.exporter import export_to_folder, export_to_zip
from skills.models import Library, Skill, SkillStatus


class Command(BaseCommand):
    help = "Export skills as spec-valid SKILL.md folders (SkillBank layout without a scope)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", help="output folder, or .zip file with --format zip")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--user", help="only this user's skills, as <slug>/ folders")
        where.add_argument(
            "--library", help="only this library's skills, as <slug>/ folders"
        )
        parser.add_argument(
            "--format", choices=["agentskills", "zip"], default="agentskills"
        )
        parser.add_argument(
            "--include-inactive",
            action="store_true",
            help="also drafts and archived skills",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="write into a non-empty folder / replace the zip",
        )

    def handle(self, *args, **options) -> None:
        skills = Skill.objects.all()
        if not options["include_inactive"]:
            skills = skills.filter(status=SkillStatus.ACTIVE)
        flat = True
        if options["user"]:
            user = user_for_command(options["user"])
            skills = skills.filter(owner=user)
        elif options["library"]:
            library = Library.objects.filter(slug=options["library"]).first()
            if library is None:
                raise CommandError(f"No library {options['library']!r}.")
            skills = skills.filter(library=library)
        else:
            flat = False
        out = Path(options["out"]).expanduser()
        if options["format"] == "zip":
            if out.exists() and not options["force"]:
                raise CommandError(f"{out} exists; pass --force to replace it.")
            count = export_to_zip(skills, out, flat=flat)
        else:
            if (
                out.exists()
                and (not out.is_dir() or any(out.iterdir()))
                and not options["force"]
            ):
                raise CommandError(
                    f"{out} is not an empty folder; pass --force to write into it."
                )
            count = export_to_folder(skills, out, flat=flat)
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {skills.count()} skills ({count} files) to {out}."
            )
        )
