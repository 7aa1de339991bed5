"""Test settings: the embedded default plus fast hashing and a throwaway mirror."""

import os

os.environ.setdefault("DJANGO_DEBUG", "1")

from .base import *  # noqa: E402,F403
from .base import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# tests/conftest.py gives every test its own root; this is only the fallback.
AUTOSKILL_STORE_DIR = BASE_DIR / "var" / "test-skillbank"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per xdist worker, so parallel workers never share a test database.
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    DATABASES["default"]["TEST"] = {
        "NAME": str(BASE_DIR / "var" / f"test-{_worker}.sqlite3")
    }

# Meaning-free but fast and deterministic; the real model runs in integration tests only.
AUTOSKILL_EMBEDDINGS_PROVIDER = "hashing"
AUTOSKILL_EMBEDDINGS_SYNC = True
AUTOSKILL_INDEX_CHECK_SECONDS = 0.0
# Tests never reach a real model: the offline provider unless a test points elsewhere.
AUTOSKILL_LLM_PROVIDER = "offline"
# Tests revoke and deactivate keys and expect the next request to see it.
AUTOSKILL_API_KEY_CACHE_SECONDS = 0.0
# pytest-django drops the test database at the end; a pool's idle connections would
# block that. The pool is exercised by the PostgreSQL benchmarks instead.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
