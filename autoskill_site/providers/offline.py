"""The offline built-in provider: a clearly labelled chat stub and a gated heuristic extractor.

The embedded default runs without API keys, so something must answer chat turns and
propose skills. Unlike the original's mock (which turned any text into a "General SOP"),
the extractor is gated: only the user's own durable procedures, preferences and
policy-setting corrections become a candidate; small talk, questions, one-off tasks,
stories about other people and assistant-only checklists yield None. The scoring lives
in `offline_rules`; this module turns a qualifying turn into a candidate dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoskill_site.providers import offline_rules as R
from autoskill_site.providers.llm import LLMError, LLMReply, Message

__all__ = ["OfflineLLM"]


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


_SKILLS_HEADING = re.compile(
    r"^\s*#{1,6}\s*(relevant |available |selected |injected )?(skills\b|技能)", re.I
)
_SKILL_HEADING = re.compile(
    r"^\s*#{2,6}\s*(?:skill\s*\d*\s*[:：.-]\s*)?(.+?)(?:\s+v\d[\w.]*)?\s*$", re.I
)
_SKILL_BULLET = re.compile(r"^[-*]\s+\**([^:：*\n]{2,80}?)\**\s*(?:[:：—]|\s-\s|$)")
_FIELD_BULLET = re.compile(
    r"^[-*]\s+(id|title|description|tags|triggers|resources|instructions|version)\b",
    re.I,
)
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


def _build(turn: R.TurnEvidence, *, hint: str | None, zh: bool) -> dict[str, Any]:
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


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p if isinstance(p, str) else str(p.get("text", ""))
            for p in content
            if isinstance(p, str | Mapping)
        )
    return ""


def _skills_in_context(messages: Sequence[Message]) -> list[str]:
    """Names of skills injected into system messages, whatever the exact layout."""
    names: list[str] = []
    for message in messages:
        if message.get("role") != "system":
            continue
        inside = False
        for line in _text_of(message.get("content")).splitlines():
            if _SKILLS_HEADING.match(line):
                inside = True
            elif inside and re.match(r"^\s*#\s", line):
                inside = False  # a new top-level section ends the block
            elif inside and (
                (m := _SKILL_HEADING.match(line))
                or (not _FIELD_BULLET.match(line) and (m := _SKILL_BULLET.match(line)))
            ):
                names.append(R.clean(m.group(1)))
    return list(dict.fromkeys(n for n in names if n))


class OfflineLLM:
    """The built-in provider used when no model is configured; deterministic and labelled."""

    provider = "offline"
    model = "offline-heuristic"
    offline = True

    def complete(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        json_mode: bool = False,
        timeout: float | None = None,
    ) -> LLMReply:
        """A reply saying no model is configured, plus what can be told without one."""
        if json_mode:
            raise LLMError(
                "The offline provider answers chat only and cannot produce JSON; "
                "use OfflineLLM.extract_candidate() for extraction, or configure a "
                "language model (AUTOSKILL_LLM_PROVIDER)."
            )
        return LLMReply(
            text=self._reply(messages),
            model=self.model,
            provider=self.provider,
            finish_reason="stop",
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        """The same reply as `complete`, in word-sized pieces."""
        text = self.complete(messages, model=model, max_tokens=max_tokens).text
        # Runs without spaces (Chinese) are cut too, so a client still sees progress.
        for piece in re.findall(r"\s+|\S+\s*", text):
            yield from (piece[i : i + 16] for i in range(0, len(piece), 16))

    def extract_candidate(
        self,
        *,
        user_turns: list[str],
        context_turns: list[dict] | None = None,
        hint: str | None = None,
    ) -> dict | None:
        """One candidate skill dict, or None when the user stated nothing durable.

        Only `user_turns` are evidence. `context_turns` (the whole window) only tell
        whether the user is answering an assistant reply, which makes "no, use X" a
        correction. The latest qualifying turn wins; earlier qualifying turns join it
        only when they are about the same domain.
        """
        replying = any(t.get("role") == "assistant" for t in context_turns or [])
        threshold = R.HINT_THRESHOLD if hint and hint.strip() else R.THRESHOLD
        texts = [t for t in user_turns if isinstance(t, str) and t.strip()]
        turns = [R.analyse_turn(text, replying=replying) for text in texts]
        qualifying = [t for t in turns if t.score >= threshold and t.has_content]
        if not qualifying:
            return None
        main = qualifying[-1]
        topic = topic_of(main.text)
        for earlier in reversed(qualifying[:-1]):
            if topic is not None and topic_of(earlier.text) == topic:
                main.rules = earlier.rules + main.rules
                main.steps = main.steps or earlier.steps
                main.sections = main.sections or earlier.sections
        return _build(main, hint=hint, zh=R.is_chinese(" ".join(texts[-3:])))

    def _reply(self, messages: Sequence[Message]) -> str:
        users = [
            _text_of(m.get("content")) for m in messages if m.get("role") == "user"
        ]
        skills = _skills_in_context(messages)
        candidate = self.extract_candidate(
            user_turns=users[-3:], context_turns=[dict(m) for m in messages]
        )
        if users and R.is_chinese(users[-1]):
            lines = [
                "[offline provider] 未配置语言模型，这条回复来自 AutoSkill Studio 内置的离线"
                "（offline）提供方：它只运行确定性的启发式规则，无法理解或回答你的问题。",
                "配置模型后重启即可获得真正的回答：设置 AUTOSKILL_LLM_PROVIDER（openai、generic、"
                "dashscope、glm、internlm 或 anthropic）及对应密钥，例如 OPENAI_API_KEY"
                "（可选 AUTOSKILL_LLM_MODEL、AUTOSKILL_LLM_BASE_URL），或 ANTHROPIC_API_KEY。",
                f"本次上下文中的技能（{len(skills)}）：{'、'.join(skills)}。"
                if skills
                else "本次请求的上下文中没有技能。",
                f"技能学习：你的消息包含可复用的流程或偏好，离线提取器可以将其学习为技能“{candidate['name']}”。"
                if candidate
                else "技能学习：没有发现可复用的流程或长期偏好（闲聊、提问和一次性任务不会被学习）。",
            ]
        else:
            lines = [
                "[offline provider] No language model is configured, so this reply comes "
                "from AutoSkill Studio's built-in offline provider. It only runs "
                "deterministic heuristics and cannot understand or answer your request.",
                "To get real answers, configure a model and restart: set "
                "AUTOSKILL_LLM_PROVIDER (openai, generic, dashscope, glm, internlm or "
                "anthropic) and its key, for example OPENAI_API_KEY (optionally "
                "AUTOSKILL_LLM_MODEL and AUTOSKILL_LLM_BASE_URL for any OpenAI-compatible "
                "server), or ANTHROPIC_API_KEY.",
                f"Skills in context ({len(skills)}): {', '.join(skills)}."
                if skills
                else "No skills were in context for this request.",
                "Skill learning: your message states a reusable procedure or preference; "
                f'the offline extractor can learn it as "{candidate["name"]}".'
                if candidate
                else "Skill learning: nothing reusable was found (small talk, questions "
                "and one-off tasks are not learned).",
            ]
        return "\n\n".join(lines)
