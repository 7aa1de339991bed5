"""Background skills: a competitor for every query, whatever the scope holds.

Fusion scores a skill by how far it beats the best *other* skill (retrieval/fusion.py,
"Small scopes"). In a scope of one or two skills there was no other, so any cosine
became a large margin (e5 gives ~0.8 even to unrelated text) and an unrelated skill
scored ~0.99.

The texts below stand in for "the rest of a library": short, generic skills from
domains unrelated to each other, in English and Chinese because the model and the
users are bilingual. Their cosine to a query is what an unrelated skill gets from
this model for that query, so it is a fair runner-up. They are embedded as
documents, in one batch, once per embedder signature and process (~1 s with the
local model), on the first query that needs them; a query then costs one
(34 x d) @ d product more (~5 us).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from autoskill_site.providers.embeddings import Embedder, EmbeddingError
from retrieval.text import SkillText, embedding_text

__all__ = [
    "BACKGROUND_RANK",
    "BACKGROUND_SKILLS",
    "BackgroundCache",
    "background_cache",
    "background_cosine",
    "background_vectors",
]

logger = logging.getLogger(__name__)

# A failed background embedding (a remote provider down) is retried after this long;
# until then searches run without the floor instead of paying for the failure again.
RETRY_AFTER_SECONDS = 60.0
# The competitor is the third-best background text, not the best: no domain has more
# than two texts (mostly one English, one Chinese), so the third is not the query's
# own domain, and a user whose skill shares a background domain (a 周报 skill asked
# "帮我写周报") is not scored as if a near-duplicate existed. Measured in fusion.py.
BACKGROUND_RANK = 3


def _skill(title: str, description: str, *triggers: str, tags: str = "") -> SkillText:
    return SkillText(
        title=title,
        name=title.lower().replace(" ", "-"),
        description=description,
        triggers=triggers,
        tags=tuple(tags.split()),
        instructions="",
    )


# fmt: off
BACKGROUND_SKILLS: tuple[SkillText, ...] = (
    _skill("Translate text", "Translate text between English and other languages, keeping tone and terminology.",
           "translate this paragraph", "what is this in French", tags="translation language"),
    _skill("中英互译", "把中文翻译成自然地道的英文，或把英文翻译成中文，保留术语和语气。",
           "帮我翻译成英文", "这句话英文怎么说", tags="翻译 英语"),
    _skill("Write SQL queries", "Write and explain SQL queries with joins, grouping and filters for a given schema.",
           "write a sql query", "join these two tables", tags="sql database"),
    _skill("Professional email", "Draft polite, concise professional emails for requests, follow-ups and apologies.",
           "write an email to my manager", "reply to this email", tags="email writing"),
    _skill("商务邮件", "撰写正式得体的商务邮件，包括询价、催款、道歉和跟进。",
           "帮我写一封邮件", "回复客户的邮件", tags="邮件 写作"),
    _skill("Trip planner", "Plan a day-by-day travel itinerary with transport, sights, food and budget.",
           "plan my trip to Japan", "make an itinerary for a weekend", tags="travel itinerary"),
    _skill("旅行行程规划", "根据天数和预算安排每日旅行路线、交通、住宿和美食。",
           "帮我规划去成都的行程", "五天旅游攻略", tags="旅行 攻略"),
    _skill("Debug Python errors", "Explain a Python traceback, find the cause and propose a minimal fix.",
           "why does my python code crash", "fix this traceback", tags="python debugging"),
    _skill("周报撰写", "按本周进展、遇到的问题和下周计划整理工作周报，语言简洁。",
           "帮我写周报", "整理这周的工作总结", tags="周报 工作"),
    _skill("Weekly status report", "Summarise the week's progress, blockers and next steps for a team update.",
           "write my weekly report", "status update for the team", tags="report work"),
    _skill("Recipe helper", "Suggest recipes from the ingredients at hand, with steps, timings and substitutions.",
           "what can I cook with chicken and rice", "give me a dinner recipe", tags="cooking recipe"),
    _skill("家常菜谱", "根据现有食材推荐家常菜做法，写清用料、步骤和火候。",
           "番茄炒蛋怎么做", "今晚做什么菜", tags="菜谱 做饭"),
    _skill("Workout plan", "Build a weekly fitness plan with strength and cardio sessions for a goal and level.",
           "make me a gym routine", "how should I train to lose weight", tags="fitness exercise"),
    _skill("健身计划", "制定减脂或增肌的每周训练计划，包含动作、组数和饮食建议。",
           "帮我制定健身计划", "怎么练腹肌", tags="健身 减脂"),
    _skill("Tax form assistant", "Explain which tax forms to file, deductions to claim and how to fill each field.",
           "help me with my tax return", "which deductions can I claim", tags="tax finance"),
    _skill("个税申报", "解释个人所得税年度汇算、专项附加扣除和申报步骤。",
           "个税汇算怎么填", "专项附加扣除有哪些", tags="个税 财务"),
    _skill("Poetry writing", "Write poems in a requested form, such as sonnets or haiku, on a given theme.",
           "write a poem about autumn", "compose a haiku", tags="poetry creative"),
    _skill("写诗", "按指定主题创作古诗、现代诗或对联，讲究押韵和意境。",
           "写一首关于春天的诗", "帮我写副对联", tags="诗歌 创作"),
    _skill("Unit conversion", "Convert between units of length, weight, temperature, volume and currency.",
           "convert miles to kilometers", "how many grams in a cup", tags="units conversion"),
    _skill("Summarize articles", "Summarise a long article or document into key points and a short abstract.",
           "summarize this article", "give me the tl;dr", tags="summary reading"),
    _skill("会议纪要", "把会议记录整理成纪要：议题、结论、待办事项和负责人。",
           "整理会议纪要", "把这段录音转写整理一下", tags="会议 办公"),
    _skill("Resume polishing", "Improve a resume or CV with stronger bullet points tailored to a job posting.",
           "improve my resume", "tailor my cv for this job", tags="resume career"),
    _skill("简历优化", "优化求职简历的项目经历和自我评价，匹配岗位要求。",
           "帮我改简历", "面试自我介绍怎么写", tags="简历 求职"),
    _skill("Regex builder", "Write and explain regular expressions that match or extract the given patterns.",
           "write a regex for emails", "what does this regex mean", tags="regex text"),
    _skill("Spreadsheet formulas", "Write Excel or Google Sheets formulas, pivot tables and lookups.",
           "excel formula to sum by month", "vlookup between sheets", tags="excel spreadsheet"),
    _skill("Excel 数据分析", "用 Excel 做数据透视、图表和常用函数分析销售数据。",
           "数据透视表怎么做", "用函数统计每月销量", tags="excel 数据"),
    _skill("Math tutor", "Solve math homework step by step and explain each step simply.",
           "solve this equation", "explain this calculus problem", tags="math homework"),
    _skill("小红书文案", "写吸引人的小红书种草文案，带标题、表情和话题标签。",
           "写一篇小红书笔记", "帮我想个爆款标题", tags="文案 社交媒体"),
    _skill("Personal budget", "Plan a monthly budget, track spending categories and suggest savings.",
           "help me budget my salary", "how much should I save", tags="budget money"),
    _skill("Plant care", "Advise on watering, light, soil and pests for house plants and gardens.",
           "why are my plant leaves yellow", "how often to water succulents", tags="gardening plants"),
    _skill("学习计划", "制定考试复习和学习计划，按周分配科目和练习。",
           "帮我做考研复习计划", "怎么准备英语四级", tags="学习 考试"),
    _skill("Product description", "Write persuasive product descriptions and marketing copy for an online store.",
           "write a product description", "marketing copy for my app", tags="marketing copywriting"),
    _skill("Customer support reply", "Answer customer complaints and questions with empathy and a clear resolution.",
           "reply to this angry customer", "write a support response", tags="support customer"),
    _skill("PPT 大纲", "根据主题生成演示文稿大纲，每页标题和要点。",
           "帮我做个PPT大纲", "汇报幻灯片怎么写", tags="演示 汇报"),
)
# fmt: on


class BackgroundCache:
    """Background vectors per embedder signature, computed once per process.

    The lock is held while embedding, so concurrent first queries wait for one batch
    instead of each embedding the set. A failure is remembered for
    RETRY_AFTER_SECONDS and answered with None, so search runs without the floor
    meanwhile instead of paying for the failure on every query.
    """

    def __init__(self) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()
        self.batches = 0  # embedding calls made; tests read it

    def vectors(self, embedder: Embedder) -> np.ndarray | None:
        signature = embedder.signature
        vectors = self._vectors.get(signature)
        if vectors is not None:
            return vectors
        with self._lock:
            vectors = self._vectors.get(signature)
            if vectors is not None:
                return vectors
            failed_at = self._failed.get(signature)
            if (
                failed_at is not None
                and time.monotonic() - failed_at < RETRY_AFTER_SECONDS
            ):
                return None
            self.batches += 1
            try:
                vectors = _embed(embedder)
            except Exception as exc:
                # Any failure only drops the floor: it refines scores, and search
                # must answer without it whatever the provider raised.
                logger.warning(
                    "background skills not embedded for %s: %s", signature, exc
                )
                self._failed[signature] = time.monotonic()
                return None
            self._failed.pop(signature, None)
            self._vectors[signature] = vectors
            return vectors

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()
            self._failed.clear()
            self.batches = 0


def _embed(embedder: Embedder) -> np.ndarray:
    texts = [embedding_text(skill) for skill in BACKGROUND_SKILLS]
    vectors = np.asarray(embedder.embed_passages(texts), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise EmbeddingError(
            f"expected {len(texts)} background vectors, got shape {vectors.shape}"
        )
    if not np.all(np.isfinite(vectors)):
        raise EmbeddingError("background vectors contain NaN or infinite values")
    return np.ascontiguousarray(vectors)


background_cache = BackgroundCache()


def background_vectors(*, embedder: Embedder) -> np.ndarray | None:
    """The background matrix for `embedder` (embedded on first use), or None."""
    return background_cache.vectors(embedder)


def background_cosine(
    *, vectors: np.ndarray | None, query_vector: np.ndarray
) -> float | None:
    """The competitor's cosine: the BACKGROUND_RANK-th best background text's."""
    if vectors is None or vectors.shape[1] != query_vector.shape[-1]:
        return None
    cosines = vectors @ query_vector
    rank = min(BACKGROUND_RANK, len(cosines))
    return float(np.partition(cosines, len(cosines) - rank)[len(cosines) - rank])
