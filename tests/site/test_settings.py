"""Settings come from the environment and refuse unsafe production values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter whose environment has only `env` for Django."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _import_settings(**env: str) -> subprocess.CompletedProcess:
    code = "import autoskill_site.settings.base as s; print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'])"
    return _run_python(code, **env)


def test_production_without_secret_key_fails_loudly():
    result = _import_settings(DJANGO_DEBUG="0")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_without_allowed_hosts_fails_loudly():
    result = _import_settings(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="x" * 50)
    assert result.returncode != 0 and "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_embedded_default_is_sqlite_and_in_memory_layer():
    result = _import_settings(DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
    ]


def test_urls_switch_database_and_channel_layer():
    result = _import_settings(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="s" * 50,
        DJANGO_ALLOWED_HOSTS="example.org",
        DATABASE_URL="postgres://u@db.example/x",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
    ]


def test_bad_boolean_is_rejected():
    result = _import_settings(DJANGO_DEBUG="maybe")
    assert result.returncode != 0 and "DJANGO_DEBUG" in result.stderr


@pytest.mark.django_db
def test_home_and_admin_login_render(client):
    assert client.get("/").status_code == 200
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.django_db
def test_admin_browses_skills(admin_client, user):
    from tests.factories import make_skill

    skill = make_skill(owner=user)
    assert admin_client.get("/admin/skills/skill/").status_code == 200
    assert (
        admin_client.get(f"/admin/skills/skill/{skill.pk}/change/").status_code == 200
    )
    assert admin_client.get("/admin/skills/skillversion/").status_code == 200
    assert admin_client.get("/admin/proxy/apikey/").status_code == 200


@pytest.mark.django_db
def test_admin_browses_retrieval_models(admin_client, user):
    from tests.factories import make_skill

    make_skill(owner=user)
    assert admin_client.get("/admin/retrieval/skillembedding/").status_code == 200
    assert admin_client.get("/admin/retrieval/indexgeneration/").status_code == 200


def test_the_production_pool_settings_build_a_pool():
    """The pool options are given to psycopg_pool as Django builds it (no connection is
    opened: Django creates the pool closed). The test settings drop the pool, so only
    this catches an option Django also passes itself."""
    code = (
        "import django; django.setup(); from django.db import connection; "
        "pool = connection.pool; print(type(pool).__name__, pool._check is not None)"
    )
    result = _run_python(
        code,
        DJANGO_DEBUG="1",
        DJANGO_SETTINGS_MODULE="autoskill_site.settings.base",
        DATABASE_URL="postgres://u@127.0.0.1:1/x",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ConnectionPool", "True"]
