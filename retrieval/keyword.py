"""BM25 keyword index over pre-tokenised skills.

Why bm25s and not rank-bm25: rank-bm25 scores every query term with a Python
loop over every document (97 ms per query at 100k docs, measured in
DEPENDENCIES.md §2b); bm25s precomputes a sparse term x document score matrix,
so a query is a sparse slice summed in numpy (~0.9 ms at 100k docs with
``get_scores``, about 100x faster). Its ``retrieve`` adds top-k selection and
bookkeeping we do not need, so we call ``get_scores`` and let the caller fuse
and rank.

Tokenisation is ours (``retrieval.text``), not bm25s's regex tokenizer, which
keeps a whole run of Chinese characters as one token.

Parameters (measured with scripts/retrieval_experiment.py, field-weighted
tokens from ``keyword_tokens``): ``method="lucene"``, ``k1=1.5``, ``b=0.75``
(dev R@1 0.947, full_dev R@1_tol 0.905; k1 1.2/2.0, b 0.4/0.9, Robertson and
BM25+ were within +-0.6 points). Lucene keeps every idf positive, which fusion
relies on: a score of 0 means "no shared term".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

# bm25s sets its logger to DEBUG on import and announces every index build; quiet it.
logging.getLogger("bm25s").setLevel(logging.WARNING)

__all__ = ["BM25_PARAMS", "KeywordIndex"]

BM25_PARAMS: dict[str, object] = {"method": "lucene", "k1": 1.5, "b": 0.75}

_IDS_FILE = "ids.json"


class KeywordIndex:
    """Raw BM25 scores for every document, aligned with ``ids``."""

    def __init__(
        self,
        ids: Sequence[str],
        token_lists: Sequence[Sequence[str]],
        *,
        params: dict[str, object] | None = None,
    ) -> None:
        if len(ids) != len(token_lists):
            raise ValueError("ids and token_lists differ in length")
        self.ids: list[str] = list(ids)
        self._bm25 = bm25s.BM25(**(params or BM25_PARAMS))  # type: ignore[arg-type]
        self._vocab: dict[str, int] = {}
        if self.ids:
            self._index([list(tokens) for tokens in token_lists])

    def _index(self, token_lists: list[list[str]]) -> None:
        vocab: dict[str, int] = {}
        encoded = [
            [vocab.setdefault(t, len(vocab)) for t in doc] for doc in token_lists
        ]
        # bm25s needs a token for empty documents; an id outside any query
        # vocabulary keeps them at score 0.
        empty_id = vocab.setdefault("", len(vocab))
        encoded = [doc or [empty_id] for doc in encoded]
        tokenized = bm25s.tokenization.Tokenized(ids=encoded, vocab=vocab)
        self._bm25.index(tokenized, show_progress=False)
        self._vocab = self._bm25.vocab_dict

    def __len__(self) -> int:
        return len(self.ids)

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """Float32 raw BM25 per document; unknown terms are dropped, not errors.

        Repeated query terms count once per occurrence, as in classic BM25's
        query-term frequency, by passing the token ids through unchanged.
        """
        out = np.zeros(len(self.ids), dtype=np.float32)
        if not self.ids:
            return out
        token_ids = [self._vocab[t] for t in query_tokens if t and t in self._vocab]
        if not token_ids:
            return out
        scores = self._bm25.get_scores_from_ids(token_ids)
        return np.asarray(scores, dtype=np.float32)

    def save(self, dir: Path, name: str) -> Path:
        """Write ``dir/name`` atomically: build in a temp dir, then rename, so a
        concurrent ``load`` never sees a half-written index."""
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        target = dir / name
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dir))
        try:
            self._bm25.save(str(tmp), show_progress=False)
            (tmp / _IDS_FILE).write_text(json.dumps(self.ids), encoding="utf-8")
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=dir))
                os.replace(target, old / name)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, dir: Path, name: str) -> KeywordIndex:
        """Open an index written by ``save``; no re-tokenising needed."""
        path = Path(dir) / name
        ids = json.loads((path / _IDS_FILE).read_text(encoding="utf-8"))
        self = cls.__new__(cls)
        self.ids = list(ids)
        self._bm25 = bm25s.BM25.load(str(path), show_progress=False, verbosity=0)
        self._vocab = self._bm25.vocab_dict
        return self
