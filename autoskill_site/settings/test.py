"""Test settings: the embedded default plus fast hashing and a throwaway mirror."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "1")

from .base import *  # noqa: E402,F403
from .base import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTOSKILL_STORE_DIR = Path(tempfile.mkdtemp(prefix="autoskill-test-bank-"))  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per xdist worker, so parallel workers never share a test database.
    _worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{_worker}.sqlite3")}  # noqa: F405
