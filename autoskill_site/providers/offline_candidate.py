"""The offline extractor's candidate building: domain topics, wording and layout.

`offline_rules` finds the evidence in a user turn; this module turns one qualifying
turn into a candidate skill dict (name, description, instructions, triggers, tags),
in the user's language. `offline.OfflineLLM.extract_candidate` decides which turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from autoskill_site.providers import offline_rules as R

__all__ = ["TOPICS", "Topic", "build_candidate", "topic_of"]


@dataclass(frozen=True)
class Topic:
    """A capability domain: a pattern, an English slug and labels in both languages."""

    pattern: re.Pattern[str]
    slug: str
    en: str
    zh: str


# slug | English label | Chinese label | pattern. The domain mentioned first in the
# evidence wins; on a tie (same position) the earlier row, so specific rows come first.
_TOPIC_TABLE = r"""
release-notes | release notes | 发布说明 | release notes|changelog|发布说明|更新日志
commit-message | commit message | 提交信息 | \bcommit|提交信息|提交记录
weekly-report | weekly report | 周报 | weekly report|周报
daily-report | daily report | 日报 | daily report|stand-?up|日报
meeting-notes | meeting notes | 会议纪要 | meetings?\b|会议|纪要
postmortem | postmortem | 复盘 | postmortem|post-mortem|retro|复盘
incident-response | incident response | 告警处理 | incident|outage|on-?call|\bpage\b|告警|故障|报警
code-review | code review | 代码评审 | code review|pull request|\bPRs?\b|merge request|代码评审|代码审查|评审
package-manager | package manager | 包管理 | \b(npm|pnpm|yarn)\b|package manager|包管理
sql-style | SQL | SQL | \bsql\b|quer(y|ies)|数据库查询
mobile-release | mobile app release | 移动端发版 | app store|testflight|\bios\b|android|mobile app|移动端|安卓
release | release | 发版 | releas|deploy|rollout|roll out|\bship\b|canary|发版|上线|发布|灰度|部署
service-onboarding | service onboarding | 新服务接入 | onboard|new service|入职|新服务
data-publishing | data publishing | 数据发布 | \bdata|dataset|数据|样本
email-writing | email | 邮件 | e-?mails?|newsletter|邮件
python-code | Python code | Python 代码 | python|pytest|type hints?|类型注解
javascript-code | JavaScript code | JavaScript 代码 | typescript|javascript|\bjs\b|\bts\b|react|\bnode
testing | testing | 测试 | \btests?\b|testing|测试
response-language | response language | 回答语言 | british|american|english|chinese|language|中文|英文|术语|语言
writing-style | writing style | 写作风格 | emojis?|bullet|tone|formal|写作|语气|表情
code-comments | code comments | 代码注释 | comments?|docstring|注释
documentation | documentation | 文档 | \bdocs?\b|documentation|readme|文档
"""
TOPICS: tuple[Topic, ...] = tuple(
    Topic(R.rx(pattern), slug, en, zh)
    for slug, en, zh, pattern in (
        (part.strip() for part in line.split(" | ", 3))
        for line in _TOPIC_TABLE.strip().splitlines()
    )
)

KIND_SUFFIX = {"procedure": "process", "format": "format", "preference": "preferences"}
KIND_TAG = {"procedure": "workflow", "format": "format", "preference": "preference"}
STOPWORDS = frozenset(
    """a an the and or but to of in on at for from by with about into over under is are
    was were be been it this that these those i me my we our you your he she they them
    do does did don't not no never always please use using each every all any when whenever
    from now then first finally next should must keep make sure also just only like want
    prefer here's how one set up what which there their have has had will would can could
    than more less much very so as if after before time times way things thing write""".split()
)


def topic_of(text: str) -> Topic | None:
    """The domain mentioned first in `text`; table order breaks ties."""
    hits = [
        (m.start(), index, topic)
        for index, topic in enumerate(TOPICS)
        if (m := topic.pattern.search(text))
    ]
    return min(hits, key=lambda hit: hit[:2])[2] if hits else None


_TRIGGER_LEAD = R.rx(
    r"^(here'?s how |when(ever)? (i|we) (ask you to )?|every ?time (i|we) |each time "
    r"(i|we) |our |my |we |以后|今后|每当|我们|我)"
)
_SCOPE_TAIL = R.rx(
    r"\s*[,，]?\s*(please\b.*|(the )?(process|procedure|workflow|steps?) (is|are)\b.*|"
    r"\b(should|must|has to|needs? to)\b.*|(都|就)?(按|照)(这个|以下|下面)?.*|"
    r"(的)?(流程|步骤)(是|如下)?.*|(必须|应该|需要).*)$"
)
_THIRD_PERSON = (
    (re.compile(r"\bI ask you\b"), "the user asks"),
    (re.compile(r"\bI\b"), "the user"),
    (re.compile(r"\bmy\b", re.I), "the user's"),
    (re.compile(r"\bwe\b", re.I), "the team"),
)
_KIND_WORDS = {
    ("procedure", False): ("process", "checklist"),
    ("format", False): ("format", "template"),
    ("preference", False): ("rules", "style"),
    ("procedure", True): ("流程", "步骤"),
    ("format", True): ("格式", "模板"),
    ("preference", True): ("规范", "要求"),
}


def _scope(scopes: list[str]) -> str:
    """The situation the user tied the skill to ("Before each release", "每次发版前")."""
    for scope in scopes:
        phrase = R.clean(_SCOPE_TAIL.sub("", scope))
        if 2 <= len(phrase) <= 60:
            return phrase
    return ""


def _trigger_of(scope: str) -> str:
    phrase = R.clean(_TRIGGER_LEAD.sub("", _TRIGGER_LEAD.sub("", scope)))
    return R.clean(re.sub(r"(的时候|时)$", "", phrase))


def _third_person(text: str) -> str:
    for pattern, replacement in _THIRD_PERSON:
        text = pattern.sub(replacement, text)
    return text


def _sentence(text: str, zh: bool) -> str:
    if zh or not text:
        return text
    return text[0].upper() + text[1:]


def _labels(turn: R.TurnEvidence, hint: str | None) -> tuple[str, str, str]:
    """Slug and labels (en, zh) of the turn's domain; the hint names it when text cannot."""
    topic = topic_of(turn.text) or topic_of(hint or "")
    if topic:
        return topic.slug, topic.en, topic.zh
    words = re.findall(r"[A-Za-z][A-Za-z0-9+#-]{2,}", f"{turn.text} {hint or ''}")
    keywords = [w.lower() for w in words if w.lower() not in STOPWORDS]
    keywords = list(dict.fromkeys(keywords))[:2]
    if keywords:
        return "-".join(keywords), " ".join(keywords), " ".join(keywords)
    return "general", "this kind of task", "这类任务"


def build_candidate(
    turn: R.TurnEvidence, *, hint: str | None, zh: bool
) -> dict[str, Any]:
    """The candidate skill dict for one qualifying turn; `hint` may name the domain."""
    kind = (
        "procedure"
        if len(turn.steps) >= 2
        else "format"
        if turn.sections
        else "preference"
    )
    slug, label_en, label_zh = _labels(turn, hint)
    label = label_zh if zh else label_en
    name = slug
    if not slug.endswith(("-style", "-format", "-process")):
        name = f"{slug}-{KIND_SUFFIX[kind]}"
    scope = _scope(turn.scopes)
    steps = [_sentence(s, zh) for s in turn.steps[: R.MAX_STEPS]]
    rules = [_sentence(r, zh) for r in dict.fromkeys(turn.rules) if r]
    rules = rules[: R.MAX_RULES]
    texts = _texts(kind, label, scope, steps, turn.sections, rules, zh)
    description, goal, order_rule, structure = texts
    constraints = [structure] if turn.sections else []
    constraints += rules + ([order_rule] if steps else [])
    body = ["# Goal", goal, "", "# Constraints & Style"]
    body += [f"- {c}" for c in constraints]
    if len(steps) >= 2:
        body += ["", "# Workflow", *(f"{i}. {s}" for i, s in enumerate(steps, 1))]
    joiner = "" if zh else " "
    first, second = _KIND_WORDS[(kind, zh)]
    phrases = [_trigger_of(scope), f"{label}{joiner}{first}", label]
    if not label.endswith(second):
        phrases.append(f"{label}{joiner}{second}")
    triggers = list(dict.fromkeys(p for p in phrases if p))
    tags = [*slug.split("-")[:3], KIND_TAG[kind], *([label_zh] if zh else [])]
    return {
        "name": name,
        "description": description[:1000],
        "instructions": "\n".join(body),
        "triggers": triggers[:5],
        "tags": list(dict.fromkeys(tags))[:6],
        "confidence": round(min(0.7, 0.3 + 0.05 * max(turn.score, 1)), 2),
    }


def _texts(
    kind: str,
    label: str,
    scope: str,
    steps: list[str],
    sections: list[str],
    rules: list[str],
    zh: bool,
) -> tuple[str, str, str, str]:
    """Description, goal, ordering rule and structure line, in the user's language."""
    flow = " → ".join(steps)[:160]
    gist = ("；" if zh else "; ").join(rules)[:160]
    if zh:
        where = re.sub(r"^(以后|今后|每次|每当|我们|我)", "", scope)
        where = re.sub(r"(的时候|时)$", "", where)
        when = {
            "procedure": f"在{where}{'' if where.endswith(('前', '后')) else '时'}使用。"
            if where
            else f"在进行{label}时使用。",
            "format": f"在撰写{label}时使用。",
            "preference": f"在涉及{label}的任务中使用。",
        }[kind]
        description = {
            "procedure": f"按用户规定的顺序执行{label}流程：{flow}。{when}",
            "format": f"按用户要求的固定结构撰写{label}：{'、'.join(sections)}。{when}",
            "preference": f"遵循用户关于{label}的长期要求：{gist}。{when}",
        }[kind]
        goal = {
            "procedure": f"按用户规定的顺序完成{label}流程。",
            "format": f"按用户要求的固定格式产出{label}。",
            "preference": f"在所有涉及{label}的回答和产出中遵循用户的长期偏好。",
        }[kind]
        structure = f"结构（按顺序）：{'、'.join(sections)}"
        return description, goal, "严格按上述顺序执行，不要跳过或调换步骤。", structure
    if re.match(r"(before|after|every|each|when|whenever)\b", scope, re.I):
        when = f"Use it {_third_person(scope[0].lower() + scope[1:])}."
    else:
        when = f"Use it whenever a task involves {label}."
    description = {
        "procedure": f"Runs the user's {label} procedure in the stated order: {flow}. {when}",
        "format": f"Writes {label} in the user's fixed structure: {', '.join(sections)}. {when}",
        "preference": f"Applies the user's standing {label} rules: {gist}. {when}",
    }[kind]
    goal = {
        "procedure": f"Carry out the user's {label} procedure step by step, in the order the user defined.",
        "format": f"Produce {label} in the structure the user requires.",
        "preference": f"Follow the user's standing {label} preferences in every relevant answer.",
    }[kind]
    order = "Follow the steps in the given order; do not skip or reorder them."
    structure = f"Structure, in this order: {', '.join(sections)}"
    return description, goal, order, structure
