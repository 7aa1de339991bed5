from __future__ import annotations

from pathlib import Path

import pytest

from skills.models import Library
from tests.fakes.fixtures import (
    fake_openai,  # noqa: F401 - a fixture for every test module
)


@pytest.fixture(scope="session", autouse=True)
def end_stray_database_sessions(django_db_setup, django_db_blocker):
    """Before pytest-django drops a PostgreSQL test database, end sessions that
    threads of the live ASGI server may still hold (Django's test client unhooks
    close_old_connections while it runs a request, so a server thread finishing at
    that moment keeps its connection). Production closes them at request_finished."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture(autouse=True)
def store_dir(settings, tmp_path: Path) -> Path:
    """Every test gets its own empty SkillBank root."""
    root = tmp_path / "SkillBank"
    settings.AUTOSKILL_STORE_DIR = root
    return root


@pytest.fixture(autouse=True)
def fresh_search_indexes():
    """Test databases roll back, so a cached index could outlive the rows it indexed."""
    from retrieval.hits import context_cache
    from retrieval.index import index_cache

    index_cache.clear()
    context_cache.clear()
    yield
    index_cache.clear()
    context_cache.clear()


@pytest.fixture(autouse=True)
def close_llm_clients():
    """Clients built from settings are cached; close them so no socket outlives its test."""
    yield
    from autoskill_site.providers.llm_config import llm_cache_clear

    llm_cache_clear()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        username="alice", password="pw-alice-123"
    )


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def library(db) -> Library:
    return Library.objects.create(slug="team", name="Team")


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run on_commit callbacks (mirror writes) inside ordinary transactional tests."""

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
