"""Turn skills and queries into the text the retrievers see.

One tokeniser serves documents and queries: if the two sides were tokenised
differently, BM25 would silently miss matches. Choices below were measured on
``/work/shared/bench`` with ``scripts/retrieval_experiment.py``:

* Chinese is segmented with rjieba words only. Character bigrams (alone or
  added to the words) and ``cut_for_search`` all measured worse: bigrams
  flood BM25 with shared two-character fragments that make near-duplicate and
  same-topic skills indistinguishable (dev R@1 0.947 words vs 0.936 bigrams vs
  0.937 union; full_dev R@1_tol 0.905 vs 0.894 vs 0.895).
* English gets stopword removal and a light suffix fold (plurals, -ing, -ed):
  +0.3 points R@1_tol on full_dev over no folding. Triggers and queries are
  short phrases that mostly differ in inflection, so a Porter stemmer's
  aggressive conflation is not needed.
* Identifiers such as ``scRNA-seq`` or ``snake_case`` are split into parts so
  that a query spelled differently still matches.
Pure module: no Django, so the experiment script and tests can import it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import rjieba

__all__ = [
    "SkillText",
    "embedding_text",
    "keyword_tokens",
    "normalise",
    "tokenize",
]

_WHITESPACE = re.compile(r"\s+")
# Han ideographs and kana are written without spaces, so they go to rjieba;
# every other letter/digit run (Latin, Cyrillic, Hangul, which Korean spaces
# into words) is a "word". Underscores split identifiers.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")

# Function words that carry no topic; kept short on purpose because words like
# "not", "how" or "without" change what a trigger asks for. The apostrophe splits
# "user's" and "don't", and their leftovers (s, t, ll, ...) would otherwise tie
# unrelated skills together.
_STOPWORDS = frozenset(
    "a an the and or of to in on for with is are be by from at as this that it "
    "i you we me my your our its into than then so do does please can could "
    "would should will s t d ll re ve m".split()
)
_CJK_STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 把 被 让 给 我 你 他 她 它 们 吗 呢 吧 啊 请 帮".split()
)

# Field weights for BM25 (repetitions). Triggers are written in the same
# register as user queries, so they count most. Measured on dev: dropping the
# instructions costs 2.4 points R@1, dropping triggers 0.6, description 0.5;
# title/name/tag weights moved R@1 by at most one query either way.
_WEIGHTS = {
    "title": 2,
    "name": 1,
    "description": 2,
    "triggers": 3,
    "tags": 2,
    "instructions": 1,
}
# Long instructions drown the short fields' term frequency; only the head of
# the body (role and objective) is topical. 1,500 vs 3,000 vs unlimited were
# within one or two queries; the cap also bounds index size.
_INSTRUCTIONS_CHARS = 1500
_EMBED_CHARS = 600


@dataclass(frozen=True)
class SkillText:
    """The searchable fields of a skill, decoupled from storage models."""

    title: str
    name: str
    description: str
    triggers: tuple[str, ...]
    tags: tuple[str, ...]
    instructions: str


def normalise(text: str) -> str:
    """Fold width, case and spacing so visually equal strings compare equal."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _WHITESPACE.sub(" ", text).strip()


def _fold(word: str) -> str:
    """Conflate English inflections cheaply; only ASCII words of 4+ letters."""
    if len(word) < 4 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            stem = stem[:-1]
        return stem
    if word.endswith("ed") and len(word) > 4:
        stem = word[:-2]
        if stem.endswith("i"):
            return stem[:-1] + "y"
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            stem = stem[:-1]
        return stem
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _cjk_tokens(run: str) -> list[str]:
    """rjieba words; particles and pronouns are dropped as stopwords."""
    return [w for w in rjieba.cut(run) if w.strip() and w not in _CJK_STOPWORDS]


def tokenize(text: str) -> list[str]:
    """Tokens for BM25; documents and queries must both go through here."""
    tokens: list[str] = []
    for cjk, word in _RUN.findall(normalise(text)):
        if cjk:
            tokens.extend(_cjk_tokens(cjk))
        elif word not in _STOPWORDS:
            tokens.append(_fold(word))
    return tokens


def keyword_tokens(doc: SkillText) -> list[str]:
    """Field-weighted tokens: fields are repeated rather than scored separately,
    so one bm25s index (one sparse matrix) serves the whole skill."""
    fields = {
        "title": doc.title,
        "name": doc.name.replace("-", " "),
        "description": doc.description,
        "triggers": "\n".join(doc.triggers),
        "tags": " ".join(doc.tags),
        "instructions": doc.instructions[:_INSTRUCTIONS_CHARS],
    }
    tokens: list[str] = []
    for field, text in fields.items():
        weight = _WEIGHTS[field]
        if weight and text:
            tokens.extend(tokenize(text) * weight)
    return tokens


def embedding_text(doc: SkillText) -> str:
    """A short passage: e5-small cost grows with length (~30 ms short, ~300 ms
    long) and the instructions body dilutes the topic, so it is left out."""
    parts = [doc.title or doc.name, doc.description]
    if doc.triggers:
        parts.append("; ".join(doc.triggers))
    if doc.tags:
        parts.append(", ".join(doc.tags))
    text = "\n".join(p.strip() for p in parts if p and p.strip())
    return text[:_EMBED_CHARS]
