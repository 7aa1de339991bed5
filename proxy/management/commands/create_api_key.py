"""python manage.py create_api_key --user USERNAME [--name NAME]: print a new key once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_for_command
from proxy.auth import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user. The key is printed once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--user", required=True, help="username that will own the key"
        )
        parser.add_argument(
            "--name", default="", help="a label to recognise the key by"
        )
        parser.add_argument(
            "--service",
            action="store_true",
            help="trusted service key that may act for sub-users",
        )

    def handle(self, *args, **options) -> None:
        user = user_for_command(options["user"])
        if not user.is_active:
            raise CommandError(
                f"User {options['user']!r} is inactive; activate it first."
            )
        issued = api_key_create(
            owner=user, name=options["name"], can_act_for_users=options["service"]
        )
        self.stderr.write(
            f"Key {issued.api_key.prefix} for {user.get_username()} (shown once, store it now):"
        )
        self.stdout.write(issued.secret)
