"""fuse(): one calibrated score so min_score means the same in both modes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.fusion import HYBRID, KEYWORD_ONLY, FusionParams, fuse

_scores = st.lists(st.floats(0, 50, width=32), min_size=2, max_size=30)
_cosines = st.floats(-0.25, 1.0, width=32)


def test_params_match_feature_counts() -> None:
    # Given the shipped parameter sets
    # Then keyword-only uses 3 features and hybrid 5, all non-negative
    # (a negative weight would break monotonicity)
    assert len(KEYWORD_ONLY.weights) == 3 and len(HYBRID.weights) == 5
    assert min(KEYWORD_ONLY.weights) >= 0 and min(HYBRID.weights) >= 0


@settings(max_examples=200, deadline=None)
@given(_scores, st.integers(1, 12))
def test_keyword_only_in_unit_range_and_rank_preserving(
    kw: list[float], qtc: int
) -> None:
    # Given arbitrary non-negative BM25 scores
    keyword = np.array(kw, dtype=np.float32)
    # When fused without embeddings
    out = fuse(keyword, None, query_token_count=qtc)
    # Then every score is a probability and the BM25 order is kept
    assert out.dtype == np.float32 and out.shape == keyword.shape
    assert ((out >= 0) & (out <= 1)).all()
    order = np.argsort(-keyword, kind="stable")
    assert (np.diff(out[order]) <= 1e-6).all()


@settings(max_examples=200, deadline=None)
@given(
    _scores,
    st.lists(_cosines, min_size=30, max_size=30),
    st.integers(0, 29),
    st.floats(0.01, 10),
    st.floats(0.01, 0.3),
)
def test_hybrid_monotone_in_each_signal(
    kw: list[float], cos: list[float], pick: int, bump_kw: float, bump_cos: float
) -> None:
    # Given a document in a hybrid result
    n = len(kw)
    keyword = np.array(kw, dtype=np.float32)
    cosine = np.array(cos[:n], dtype=np.float32)
    i = pick % n
    base = fuse(keyword, cosine, query_token_count=3)[i]
    # When only its BM25 score, or only its cosine, increases
    k2 = keyword.copy()
    k2[i] += bump_kw
    c2 = cosine.copy()
    c2[i] += bump_cos
    # Then its fused score does not decrease, and stays in [0, 1]
    assert fuse(k2, cosine, query_token_count=3)[i] >= base - 1e-6
    assert fuse(keyword, c2, query_token_count=3)[i] >= base - 1e-6
    assert 0 <= base <= 1


def test_no_keyword_evidence_scores_zero_in_keyword_mode() -> None:
    # Given a query that shares no term with any document
    out = fuse(np.zeros(5, dtype=np.float32), None, query_token_count=3)
    # Then nothing passes any positive min_score
    assert not out.any()


def test_calibration_sanity_clear_winner_vs_noise() -> None:
    # Given one document that wins clearly on both signals among weak ones
    keyword = np.array([18.0, 3.0, 2.5, 0.0, 1.0], dtype=np.float32)
    cosine = np.array([0.90, 0.78, 0.77, 0.75, 0.76], dtype=np.float32)
    hybrid = fuse(keyword, cosine, query_token_count=4)
    kw_only = fuse(keyword, None, query_token_count=4)
    # Then the winner is likely right and the others unlikely, in both modes
    for out in (hybrid, kw_only):
        assert out[0] > 0.6
        assert out[1:].max() < 0.3


def test_calibration_sanity_tie_is_less_certain_than_clear_win() -> None:
    # Given two documents that tie on every signal, and the same scores
    # where the runner-up is far behind
    tie = fuse(
        np.array([10.0, 10.0, 1.0], dtype=np.float32),
        np.array([0.85, 0.85, 0.7], dtype=np.float32),
        query_token_count=3,
    )
    clear = fuse(
        np.array([10.0, 2.0, 1.0], dtype=np.float32),
        np.array([0.85, 0.75, 0.7], dtype=np.float32),
        query_token_count=3,
    )
    # Then tied documents score alike, and below a clear winner
    assert tie[0] == tie[1]
    assert tie[0] < clear[0]


def test_weak_match_stays_below_default_threshold() -> None:
    # Given a query whose best document shares one rare-ish term and has a
    # mediocre cosine, among many near-equal competitors
    keyword = np.array([2.0, 1.9, 1.8, 1.8, 0.0], dtype=np.float32)
    cosine = np.array([0.80, 0.79, 0.79, 0.78, 0.77], dtype=np.float32)
    # Then neither mode claims it is likely right (AutoSkill min_score 0.4)
    assert fuse(keyword, cosine, query_token_count=5).max() < 0.4
    assert fuse(keyword, None, query_token_count=5).max() < 0.4


def test_single_document_and_custom_params() -> None:
    # Given a one-document corpus and explicit parameters
    params = FusionParams(weights=(1.0, 0.0, 0.0), bias=0.0)
    out = fuse(
        np.array([2.0], dtype=np.float32), None, query_token_count=1, params=params
    )
    # Then the logistic of the single feature is returned
    assert np.isclose(out[0], 1 / (1 + np.exp(-1.0)))


def test_background_cosine_is_the_runner_up_of_a_lone_document() -> None:
    # Given a one-document scope whose cosine is what unrelated text gets (e5 ~0.85)
    keyword = np.zeros(1, dtype=np.float32)
    cosine = np.array([0.85], dtype=np.float32)
    # When there is no competitor, the whole cosine was its margin
    alone = fuse(keyword, cosine, query_token_count=4)[0]
    # Then a background text as close as the document takes the certainty away
    floored = fuse(keyword, cosine, query_token_count=4, background_cosine=0.85)[0]
    assert alone > 0.99 and floored < 0.05


def test_keyword_floor_discounts_one_shared_word_in_a_long_query() -> None:
    # Given the browser-test case measured with e5: a 60-token release procedure
    # against a lone commit-message skill sharing two template words (goal, style)
    keyword = np.array([0.28], dtype=np.float32)
    cosine = np.array([0.850], dtype=np.float32)
    args = {"query_token_count": 60, "background_cosine": 0.811}
    # Then without the per-token floor it looked like a near-duplicate
    no_floor = replace(HYBRID, keyword_floor=0.0)
    assert fuse(keyword, cosine, params=no_floor, **args)[0] > 0.9
    # And with it the score is far below the dedupe threshold (0.5)
    assert fuse(keyword, cosine, **args)[0] < 0.05
    # While the same skill's own trigger (3 of 3 tokens) stays likely
    trigger = fuse(
        np.array([0.71], dtype=np.float32),
        np.array([0.930], dtype=np.float32),
        query_token_count=3,
        background_cosine=0.834,
    )
    assert trigger[0] > 0.95


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(5, 50, width=32), min_size=3, max_size=30),
    st.lists(st.floats(0.75, 1.0, width=32), min_size=30, max_size=30),
    st.integers(1, 12),
)
def test_floors_below_the_real_runner_up_change_nothing(
    kw: list[float], cos: list[float], qtc: int
) -> None:
    # Given a library-sized result where real skills score above both floors
    n = len(kw)
    keyword = np.array(kw, dtype=np.float32)
    cosine = np.array(cos[:n], dtype=np.float32)
    # When fused with and without a background below every real cosine
    plain = [replace(p, keyword_floor=0.0) for p in (HYBRID, KEYWORD_ONLY)]
    # Then the scores are identical in both modes (floors of 0.1/token <= 1.2 < 5)
    assert np.array_equal(
        fuse(keyword, cosine, query_token_count=qtc, background_cosine=0.7),
        fuse(keyword, cosine, query_token_count=qtc, params=plain[0]),
    )
    assert np.array_equal(
        fuse(keyword, None, query_token_count=qtc),
        fuse(keyword, None, query_token_count=qtc, params=plain[1]),
    )


def test_shipped_floors_are_on_and_custom_params_default_to_none() -> None:
    assert HYBRID.keyword_floor > 0 and KEYWORD_ONLY.keyword_floor > 0
    assert FusionParams(weights=(1.0,), bias=0.0).keyword_floor == 0.0
