"""python manage.py ensure_admin: create a first superuser when there is none, print its password once."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the superuser 'admin' with a random password if no superuser exists yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=options["username"], password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created superuser {options['username']!r} with password {password} (shown once)."
            )
        )
