"""Background tasks behind the REST API: conversation imports and vector rebuilds.

Both run on django-tasks' "default" queue. Arguments are plain JSON because the
database backend stores them; the worker resolves the user from its id. A task's
return value (the import report, the refresh counts) is its result, which
`task_result_for` reads back for the status endpoints.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django_tasks import TaskResult, TaskResultStatus, task
from django_tasks.base import Task
from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch

from extraction.importing.service import import_conversations
from retrieval.embeddings import embeddings_refresh
from retrieval.models import SkillEmbedding
from skills.models import Skill, SkillStatus

__all__ = [
    "conversations_import_task",
    "remember_result",
    "scope_skills",
    "task_status",
    "task_result_for",
    "vectors_rebuild_task",
]

# Backends that cannot look results up later (the immediate backend, which runs the
# task inside enqueue) get them from here; the database backend reads its table.
_LOCAL_RESULTS: OrderedDict[str, TaskResult] = OrderedDict()
_LOCAL_LIMIT = 256
_LOCAL_LOCK = threading.Lock()
_STATUSES = {
    TaskResultStatus.READY: "scheduled",
    TaskResultStatus.RUNNING: "running",
    TaskResultStatus.SUCCESSFUL: "completed",
    TaskResultStatus.FAILED: "failed",
}


def task_status(result: TaskResult) -> str:
    """The task's state in the words job rows use (scheduled/running/completed/failed)."""
    return _STATUSES.get(result.status, str(result.status).lower())


def remember_result(result: TaskResult) -> None:
    """Keep `result` where `task_result_for` finds it if the backend cannot."""
    if result.task.get_backend().supports_get_result:
        return
    with _LOCAL_LOCK:
        _LOCAL_RESULTS[str(result.id)] = result
        while len(_LOCAL_RESULTS) > _LOCAL_LIMIT:
            _LOCAL_RESULTS.popitem(last=False)


def task_result_for(task_: Task, result_id: str) -> TaskResult | None:
    """The result of `task_` with this id, or None (unknown id or another task)."""
    if task_.get_backend().supports_get_result:
        try:
            return task_.get_result(result_id)
        except (TaskResultDoesNotExist, TaskResultMismatch):
            return None
    with _LOCAL_LOCK:
        result = _LOCAL_RESULTS.get(str(result_id))
    if result is None or result.task.func != task_.func:
        return None
    return result


def _relabel(value: Any, real: str, shown: str) -> Any:
    """Replace the temporary file's path with the uploaded name throughout a report."""
    if isinstance(value, str):
        return value.replace(real, shown)
    if isinstance(value, list):
        return [_relabel(item, real, shown) for item in value]
    if isinstance(value, dict):
        return {
            _relabel(key, real, shown): _relabel(item, real, shown)
            for key, item in value.items()
        }
    return value


@task(queue_name="default")
def conversations_import_task(
    *,
    user_id: int,
    text: str,
    file_name: str,
    hint: str | None = None,
    max_messages: int = 0,
    continue_on_error: bool = True,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import the conversations in `text` (the content of `file_name`) for the user.

    The importer reads files, so the text is written to a private temporary
    directory that is removed afterwards; the report names the upload, not it.
    """
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise LookupError("the importing user no longer exists or is inactive")
    with tempfile.TemporaryDirectory(prefix="autoskill-import-") as directory:
        path = Path(directory) / file_name
        path.write_text(text, encoding="utf-8")
        report = import_conversations(
            user=user,
            path=path,
            hint=hint,
            max_messages=max_messages,
            continue_on_error=continue_on_error,
            dry_run=dry_run,
        )
        return _relabel(report, str(path.resolve()), file_name)


def scope_skills(scope: str) -> Any:
    skills = Skill.objects.filter(status=SkillStatus.ACTIVE)
    if scope == "user":
        return skills.filter(owner__isnull=False)
    if scope == "library":
        return skills.filter(library__isnull=False)
    return skills


@task(queue_name="default")
def vectors_rebuild_task(*, scope: str = "all", force: bool = False) -> dict[str, Any]:
    """Embed the scope's active skills whose vector is missing or stale.

    `force` first marks their current vectors stale rather than deleting them, so
    search keeps using the old vectors until each new one replaces it.
    """
    from autoskill_site.providers.embeddings import embedder_from_settings

    embedder = embedder_from_settings()
    if embedder is None:
        return {"signature": None, "embedded": 0, "fresh": 0, "note": "embeddings off"}
    ids = list(scope_skills(scope).values_list("pk", flat=True))
    if force:
        SkillEmbedding.objects.filter(
            signature=embedder.signature, skill_id__in=ids
        ).update(content_hash="")
    report = embeddings_refresh(skill_ids=ids, embedder=embedder)
    return {
        "signature": report.signature,
        "embedded": report.embedded,
        "fresh": report.fresh,
        "scope": scope,
        "force": force,
    }
