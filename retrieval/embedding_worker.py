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
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)
_queue: queue.Queue[list] = queue.Queue()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None
IDLE_SECONDS = 2.0


def embedding_refresh_enqueue(*, skill_ids: Iterable[object]) -> None:
    ids = list(skill_ids)
    if not ids or getattr(settings, "AUTOSKILL_EMBEDDINGS_PROVIDER", "none") == "none":
        return
    if getattr(settings, "AUTOSKILL_EMBEDDINGS_SYNC", False):
        _refresh(ids)
        return
    _queue.put(ids)
    _ensure_thread()


def _ensure_thread() -> None:
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            # Not a daemon: a process (a management command, a server shutting down)
            # finishes the vectors it queued before it exits; idle, the thread ends.
            _thread = threading.Thread(
                target=_run, name="embedding-refresh", daemon=False
            )
            _thread.start()


def _run() -> None:
    global _thread
    while True:
        try:
            ids = _queue.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _start_lock:
                if _queue.empty():  # an item put after this check starts a new thread
                    _thread = None
                    connections.close_all()  # this thread's own; it ends here
                    return
            continue
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


def discard_pending() -> int:
    """Drop queued refreshes; the caller is about to refresh everything itself."""
    dropped = 0
    while True:
        try:
            dropped += len(_queue.get_nowait())
        except queue.Empty:
            return dropped
