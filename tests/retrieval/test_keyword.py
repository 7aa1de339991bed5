"""KeywordIndex: aligned raw BM25 scores, persistence without re-tokenising."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.keyword import KeywordIndex
from retrieval.text import tokenize

_DOCS = {
    "pdf": "convert pdf files to editable text",
    "img": "resize images and convert image formats",
    "zh-rewrite": "帮我把这段话降重 改写 论文",
    "zh-data": "单细胞数据加载 scRNA-seq 分析",
    "empty": "",
}


def _index() -> KeywordIndex:
    return KeywordIndex(list(_DOCS), [tokenize(t) for t in _DOCS.values()])


def test_scores_are_float32_aligned_with_ids() -> None:
    # Given a small mixed-language index
    index = _index()
    # When scoring an English query
    scores = index.scores(tokenize("convert pdf"))
    # Then there is one float32 score per id and the PDF skill wins
    assert scores.dtype == np.float32 and scores.shape == (len(index),)
    assert index.ids[int(np.argmax(scores))] == "pdf"
    assert scores[index.ids.index("empty")] == 0


def test_chinese_query_finds_chinese_skill() -> None:
    # Given the same index
    index = _index()
    # When scoring a Chinese query
    scores = index.scores(tokenize("论文降重"))
    # Then the rewriting skill ranks first
    assert index.ids[int(np.argmax(scores))] == "zh-rewrite"


def test_unknown_or_empty_query_scores_zero() -> None:
    # Given a query whose tokens are not in the vocabulary, or no tokens at all
    index = _index()
    # Then every document scores 0 rather than raising
    assert not index.scores(["nonexistent-token"]).any()
    assert not index.scores([]).any()


def test_empty_index() -> None:
    # Given an index with no documents
    index = KeywordIndex([], [])
    # Then it has length 0 and returns an empty score vector
    assert len(index) == 0
    assert index.scores(["pdf"]).shape == (0,)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    # Given a saved index (saved twice: the second save replaces the first)
    index = _index()
    index.save(tmp_path, "skills")
    index.save(tmp_path, "skills")
    # When loading it in a fresh object
    loaded = KeywordIndex.load(tmp_path, "skills")
    # Then ids and scores are identical and no temp directories are left over
    query = tokenize("convert image 降重")
    assert loaded.ids == index.ids
    np.testing.assert_allclose(loaded.scores(query), index.scores(query))
    assert [p.name for p in tmp_path.iterdir()] == ["skills"]


def test_mismatched_lengths_rejected() -> None:
    # Given more ids than token lists
    # Then construction fails loudly
    try:
        KeywordIndex(["a", "b"], [["x"]])
    except ValueError:
        return
    raise AssertionError("expected ValueError")
