"""Bundled resource files: content-addressed blobs and the per-skill file set."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from django.conf import settings

from autoskill_site.exceptions import InvalidInput
from skills.models import FileBlob, Skill, SkillFile
from skills.validators import resource_path_problem


def check_files(files: Mapping[str, bytes]) -> None:
    """Reject a file set with a bad path, an oversized file or too many files."""
    limit = settings.AUTOSKILL_MAX_FILE_BYTES
    if len(files) > settings.AUTOSKILL_MAX_SKILL_FILES:
        raise InvalidInput(
            f"A skill may bundle at most {settings.AUTOSKILL_MAX_SKILL_FILES} files "
            f"({len(files)} given)."
        )
    for path, content in files.items():
        problem = resource_path_problem(path)
        if problem:
            raise InvalidInput(f"File path {path!r} {problem}.", extra={"path": path})
        if len(content) > limit:
            raise InvalidInput(
                f"File {path!r} is {len(content)} bytes; the limit is {limit}.",
                extra={"path": path},
            )


def blob_store(content: bytes) -> FileBlob:
    digest = hashlib.sha256(content).hexdigest()
    blob, _ = FileBlob.objects.get_or_create(
        sha256=digest, defaults={"size": len(content), "content": content}
    )
    return blob


def file_manifest(skill: Skill) -> dict[str, str]:
    return dict(skill.files.values_list("path", "blob_id"))


def files_replace(*, skill: Skill, files: Mapping[str, bytes]) -> dict[str, str]:
    """Make the skill's file set exactly `files`; return the new manifest."""
    check_files(files)
    manifest = {
        path: blob_store(bytes(content)).sha256 for path, content in files.items()
    }
    files_restore(skill=skill, manifest=manifest)
    return manifest


def files_restore(*, skill: Skill, manifest: Mapping[str, str]) -> None:
    """Point the skill's files at existing blobs (rollback never needs the bytes again)."""
    current = file_manifest(skill)
    stale = [path for path in current if path not in manifest]
    if stale:
        SkillFile.objects.filter(skill=skill, path__in=stale).delete()
    for path, digest in manifest.items():
        if current.get(path) == digest:
            continue
        SkillFile.objects.update_or_create(
            skill=skill, path=path, defaults={"blob_id": digest}
        )


def file_contents(skill: Skill) -> dict[str, bytes]:
    rows = skill.files.select_related("blob").order_by("path")
    return {row.path: bytes(row.blob.content) for row in rows}
