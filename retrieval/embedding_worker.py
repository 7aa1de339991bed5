"""Embed changed skills in a background thread so writes and queries never wait for a model.

The worker is per process and best effort: whatever it misses (a crash, a restart)
is still stale by content hash and is picked up by the next refresh
(`manage.py refresh_embeddings`, or the next change). Tests set
AUTOSKILL_EMBEDDINGS_SYNC so refreshes run inline and deterministically.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_queue: queue.Queue[list] = queue.Queue()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None


def embedding_refresh_enqueue(*, skill_ids: Iterable[object]) -> None:
    ids = list(skill_ids)
    if not ids or getattr(settings, "AUTOSKILL_EMBEDDINGS_PROVIDER", "none") == "none":
        return
    if getattr(settings, "AUTOSKILL_EMBEDDINGS_SYNC", False):
        _refresh(ids)
        return
    _ensure_thread()
    _queue.put(ids)


def _ensure_thread() -> None:
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=_run, name="embedding-refresh", daemon=True
            )
            _thread.start()


def _run() -> None:
    while True:
        ids = _queue.get()
        while True:  # coalesce everything queued meanwhile into one refresh
            try:
                ids.extend(_queue.get_nowait())
            except queue.Empty:
                break
        try:
            _refresh(ids)
        except Exception:  # noqa: BLE001 - the worker must survive; stale vectors are retried later
            logger.exception(
                "Embedding refresh failed for %d skill(s); they stay stale.", len(ids)
            )
        finally:
            close_old_connections()


def _refresh(ids: list) -> None:
    from retrieval.embeddings import embeddings_refresh

    embeddings_refresh(skill_ids=ids)
