"""In-process search indexes, one per scope: a user's own skills, and all libraries.

A scope index holds the BM25 index and the vector matrix of its active skills. Each
process keeps its copies and compares them with the scope's generation counter in
the database at most every AUTOSKILL_INDEX_CHECK_SECONDS, so changes made by any
process are picked up without rebuilding on every query. Token lists are cached by
content hash, so a rebuild after one change re-tokenises only that skill.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connections

from retrieval.embeddings import SKILL_TEXT_FIELDS, from_blob, skill_text
from retrieval.generations import generations_read
from retrieval.keyword import KeywordIndex
from retrieval.models import SkillEmbedding
from retrieval.text import keyword_tokens
from skills.mirror import atomic_write
from skills.models import Skill, SkillStatus
from skills.signals import LIBRARY_SCOPE

TOKEN_CACHE_SIZE = 200_000
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexedSkill:
    """What a search hit reports without touching the database again."""

    id: str
    name: str
    title: str
    description: str
    version: str
    owner_id: int | None
    library_slug: str
    content_hash: str = ""  # "" in indexes persisted before it was recorded

    @property
    def source(self) -> str:
        return f"library:{self.library_slug}" if self.library_slug else "user"


@dataclass
class ScopeIndex:
    """The searchable state of one scope at one generation."""

    scope: str
    generation: int
    signature: str
    skills: list[IndexedSkill] = field(default_factory=list)
    keyword: KeywordIndex | None = None
    vectors: np.ndarray | None = None  # (n, d) rows aligned with `skills`
    has_vector: np.ndarray | None = None  # bool per row

    def __len__(self) -> int:
        return len(self.skills)


class _TokenCache:
    """Token lists by (skill id, content hash); bounded LRU shared by all scopes."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[tuple[str, str], list[str]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], build) -> list[str]:  # noqa: ANN001
        with self._lock:
            tokens = self._items.get(key)
            if tokens is not None:
                self._items.move_to_end(key)
                return tokens
        tokens = build()
        with self._lock:
            self._items[key] = tokens
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return tokens


_tokens = _TokenCache(TOKEN_CACHE_SIZE)


def scope_queryset(scope: str):  # noqa: ANN201
    active = Skill.objects.filter(status=SkillStatus.ACTIVE)
    if scope == LIBRARY_SCOPE:
        return active.filter(library__isnull=False)
    owner_id = int(scope.split(":", 1)[1])
    return active.filter(owner_id=owner_id, library__isnull=True)


# Bumped whenever tokenisation changes, so indexes saved by older code are rebuilt.
PERSISTED_FORMAT = 2


def _persisted_name(scope: str) -> str:
    return "skills-bm25-" + scope.replace(":", "-")


def _persist_dir() -> Path:
    return Path(settings.AUTOSKILL_STORE_DIR) / "index"


def _load_persisted(scope: str, generation: int, signature: str) -> ScopeIndex | None:
    """The keyword index saved for this exact generation, so a new process skips tokenising."""
    name = _persisted_name(scope)
    meta_path = _persist_dir() / f"{name}.meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if (
            meta.get("generation") != generation
            or meta.get("version") != PERSISTED_FORMAT
        ):
            return None
        keyword = KeywordIndex.load(_persist_dir(), name)
    except (OSError, ValueError, KeyError):
        return None
    skills = [IndexedSkill(**item) for item in meta["skills"]]
    if [skill.id for skill in skills] != keyword.ids:
        return None  # index and metadata from different writes
    index = ScopeIndex(
        scope=scope, generation=generation, signature=signature, skills=skills
    )
    index.keyword = keyword
    if signature:
        _load_vectors(index, keyword.ids)
    return index


def _persist(index: ScopeIndex) -> None:
    if not getattr(settings, "AUTOSKILL_MIRROR_ENABLED", True) or index.keyword is None:
        return
    name = _persisted_name(index.scope)
    try:
        index.keyword.save(_persist_dir(), name)
        meta = {
            "version": PERSISTED_FORMAT,
            "generation": index.generation,
            "skills": [asdict(s) for s in index.skills],
        }
        atomic_write(
            _persist_dir() / f"{name}.meta.json",
            json.dumps(meta, ensure_ascii=False).encode("utf-8"),
        )
    except OSError:
        logger.warning(
            "Could not persist the %s keyword index", index.scope, exc_info=True
        )


def build_scope_index(*, scope: str, generation: int, signature: str) -> ScopeIndex:
    """Index a scope's active skills: from the saved keyword index when it is current,
    else from the database (and save it when the scope is big enough to be worth it)."""
    persisted = _load_persisted(scope, generation, signature)
    if persisted is not None:
        return persisted
    index = _build_from_database(
        scope=scope, generation=generation, signature=signature
    )
    if len(index) >= settings.AUTOSKILL_INDEX_BACKGROUND_MIN:
        _persist(index)
    return index


def _build_from_database(*, scope: str, generation: int, signature: str) -> ScopeIndex:
    fields = (*SKILL_TEXT_FIELDS, "version", "content_hash", "library__slug")
    rows = list(scope_queryset(scope).order_by("pk").values(*fields))
    index = ScopeIndex(scope=scope, generation=generation, signature=signature)
    if not rows:
        return index
    ids = [str(row["id"]) for row in rows]
    token_lists = [
        _tokens.get(
            (sid, row["content_hash"]), lambda row=row: keyword_tokens(skill_text(row))
        )
        for sid, row in zip(ids, rows, strict=True)
    ]
    index.skills = [
        IndexedSkill(
            id=sid,
            name=row["name"],
            title=row["title"],
            description=row["description"],
            version=row["version"],
            owner_id=row["owner_id"],
            library_slug=row["library__slug"] or "",
            content_hash=row["content_hash"] or "",
        )
        for sid, row in zip(ids, rows, strict=True)
    ]
    index.keyword = KeywordIndex(ids, token_lists)
    if signature:
        _load_vectors(index, ids)
    return index


def _load_vectors(index: ScopeIndex, ids: list[str]) -> None:
    position = {sid: i for i, sid in enumerate(ids)}
    stored = SkillEmbedding.objects.filter(
        signature=index.signature, skill_id__in=scope_queryset(index.scope)
    ).values_list("skill_id", "dims", "vector")
    matrix = None
    has_vector = np.zeros(len(ids), dtype=bool)
    for skill_id, dims, blob in stored.iterator(chunk_size=1000):
        row = position.get(str(skill_id))
        if row is None:
            continue
        if matrix is None:
            matrix = np.zeros((len(ids), dims), dtype=np.float32)
        if dims != matrix.shape[1]:
            continue
        matrix[row] = from_blob(blob, dims)
        has_vector[row] = True
    if matrix is not None:
        index.vectors, index.has_vector = matrix, has_vector


class IndexCache:
    """Scope indexes of this process, refreshed when their generation moves."""

    def __init__(self) -> None:
        self._indexes: dict[str, ScopeIndex] = {}
        self._checked: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, scopes: list[str], *, signature: str) -> list[ScopeIndex]:
        now = time.monotonic()
        interval = settings.AUTOSKILL_INDEX_CHECK_SECONDS
        due = [
            s
            for s in scopes
            if s not in self._indexes
            or self._indexes[s].signature != signature
            or now - self._checked.get(s, 0.0) >= interval
        ]
        if due:
            current = generations_read(scopes=due)
            for scope in due:
                self._refresh(scope, current[scope], signature)
                self._checked[scope] = now
        return [self._indexes[s] for s in scopes]

    def _refresh(self, scope: str, generation: int, signature: str) -> None:
        cached = self._indexes.get(scope)
        if cached and cached.generation == generation and cached.signature == signature:
            return
        background = (
            cached is not None
            and cached.signature == signature
            and len(cached) >= settings.AUTOSKILL_INDEX_BACKGROUND_MIN
        )
        if background:
            # A big scope keeps answering from the previous generation while a
            # thread rebuilds it; small scopes rebuild inline (read-your-writes).
            self._rebuild_in_background(scope, generation, signature)
        else:
            self._rebuild(scope, generation, signature)

    def _lock_for(self, scope: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(scope, threading.Lock())

    def _rebuild(self, scope: str, generation: int, signature: str) -> None:
        with self._lock_for(
            scope
        ):  # one rebuild per scope; late arrivals reuse its result
            cached = self._indexes.get(scope)
            if (
                cached
                and cached.generation >= generation
                and cached.signature == signature
            ):
                return
            self._indexes[scope] = build_scope_index(
                scope=scope, generation=generation, signature=signature
            )

    def _rebuild_in_background(
        self, scope: str, generation: int, signature: str
    ) -> None:
        lock = self._lock_for(scope)
        if lock.locked():
            return  # a rebuild is already running; it or the next check catches up

        def run() -> None:
            try:
                self._rebuild(scope, generation, signature)
            except Exception:  # noqa: BLE001 - keep serving the old index; retried next check
                logger.exception("Rebuilding the %s index failed", scope)
            finally:
                connections.close_all()  # this thread's own; it ends here

        threading.Thread(target=run, name=f"index-{scope}", daemon=True).start()

    def clear(self) -> None:
        self._indexes.clear()
        self._checked.clear()


index_cache = IndexCache()
