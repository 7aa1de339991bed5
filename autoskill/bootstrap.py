"""Setting Django up for a script or notebook, or reusing a process that already did."""

from __future__ import annotations

import os
import secrets
import threading

from autoskill.config import AutoSkillConfig

_LOCK = threading.Lock()


def django_ready(config: AutoSkillConfig) -> bool:
    """Make the app importable and usable; True if this call configured Django.

    A process that already configured Django (pytest-django, `manage.py shell`,
    the server) keeps its configuration: reconfiguring a live process would
    point half of it at another database.
    """
    import django
    from django.apps import apps
    from django.conf import settings

    with _LOCK:
        if apps.ready:
            return False
        configured_here = not settings.configured
        if configured_here:
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", config.settings_module)
            # A script serves no request and verifies no API key, so a throwaway
            # signing secret is enough unless the caller set the server's own.
            os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(48))
            os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "localhost")
            # The config wins over the environment: it is what the caller wrote.
            os.environ.update(config.environment())
        django.setup()
        return configured_here


def pending_migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def database_is_new() -> bool:
    """True when the database holds no table at all (a file just created)."""
    from django.db import connection

    return not connection.introspection.table_names()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
