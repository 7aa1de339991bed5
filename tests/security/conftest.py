"""Fixtures of the hostile-input tests."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from proxy.auth import api_key_create
from skills.models import Skill, SkillFile
from skills.skillmd import is_valid_slug
from skills.validators import resource_path_problem
from tests.factories import make_skill


@pytest.fixture
def hostile(user) -> dict[str, Any]:
    """A client that reports 500s as responses, the caller's key and one skill."""
    return {
        "client": Client(raise_request_exception=False),
        "headers": {
            "HTTP_AUTHORIZATION": f"Bearer {api_key_create(owner=user).secret}"
        },
        "skill": make_skill(owner=user, title="Original title"),
    }


@pytest.fixture
def contained(tmp_path, store_dir, settings, monkeypatch) -> Callable[[], None]:
    """Temporary folders inside the test's folder; afterwards, prove nothing escaped.

    Returns the check: every path under the test's folder is in the SkillBank or the
    temporary folder (which must be empty again), nothing in the SkillBank is a
    symbolic link, and every skill name and bundled file path is a valid one.
    """
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    settings.FILE_UPLOAD_TEMP_DIR = str(scratch)

    def check() -> None:
        outside = [
            str(path.relative_to(tmp_path))
            for path in tmp_path.rglob("*")
            if not path.is_relative_to(store_dir) and path != scratch
        ]
        assert outside == [], "written outside the SkillBank root"
        assert [p for p in store_dir.rglob("*") if p.is_symlink()] == []
        for path in store_dir.rglob("*"):
            assert path.resolve().is_relative_to(store_dir.resolve()), path
        names = list(Skill.objects.values_list("name", flat=True))
        assert [n for n in names if not is_valid_slug(n)] == []
        paths = SkillFile.objects.values_list("path", flat=True)
        assert [p for p in paths if resource_path_problem(p)] == []
        for skill_file in store_dir.glob("Users/*/*/SKILL.md"):
            assert is_valid_slug(skill_file.parent.name), skill_file

    return check
