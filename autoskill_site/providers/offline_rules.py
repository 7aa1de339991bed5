"""The offline extractor's rules: cue words (English and Chinese) and turn scoring.

`offline.py` turns what this module finds into a candidate skill. Everything here is
pure and deterministic; the vocabulary can be extended without touching the building.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A sentence scores at least this much to justify a skill; an explicit extract-now
# request (a hint) lowers the bar but still needs some durable content.
THRESHOLD = 3
HINT_THRESHOLD = 2
MAX_STEPS = 10
MAX_RULES = 8
MAX_ITEM_CHARS = 200
# A line this long without line breaks is pasted material, not something typed as a rule.
PASTE_LINE_CHARS = 400

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def is_chinese(text: str) -> bool:
    """Chinese when ideographs make up a fair share of the letters."""
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return cjk > 0 and cjk * 3 >= latin


def rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- whole-turn signals -------------------------------------------------------------

ACK = rx(
    r"^\s*(ok(ay)?|k|sure|yes|yep|yeah|thanks?( you)?|thx|ty|cool|great|nice|got it|"
    r"sounds good|makes sense|perfect|continue|go on|好的?|好滴|嗯+|行|可以|谢谢|多谢|"
    r"收到|明白了?|知道了|继续)[\s,.!！。，~～]*((thanks|makes sense|谢谢)[\s.!！。]*)?$"
)
STORY = rx(
    r"\b(my|a) (colleague|co-?worker|friend|boss|manager|teammate|brother|sister|wife|"
    r"husband|mom|dad|neighbou?r)\b|\btold me\b|\bi heard\b|\b(someone|they|he|she) "
    r"said\b|\b(their|his|her) (team|company|boss)\b|\bat my (old|last|previous) job\b|"
    r"(同事|朋友|同学|老板|领导|别人|家人|他|她)(说|告诉我|讲)|听说|"
    r"我(的)?(老板|领导|同事|朋友|经理|上司|老婆|老公|妈|爸)|"
    r"(他们|她们|人家)(团队|公司|那边|组)"
)
ONE_OFF = rx(
    r"\b(just|only) (for )?(this|now|today)( one| once| time)?\b|\bthis (time|once)\b|"
    r"\bfor now\b|\bjust once\b|这次|这一次|这回|本次|暂时|临时|今天先"
)
# A request to transform pasted material ("this", "下面的"): what follows is payload.
PAYLOAD_TASK = rx(
    r"^\W*(please |can you |could you )?(translate|summari[sz]e|proofread|rewrite|"
    r"rephrase|paraphrase|polish|correct|convert|fix|check|review|explain|tl;?dr)\b"
    r".*\b(this|these|the following|below)\b|"
    r"(这(一)?[段句篇份些封条个文]|下面|以下|如下).*(翻译|总结|概括|整理|润色|校对|改写|"
    r"提炼|归纳|摘要|转换|修改)|(翻译|总结|概括|整理|润色|校对|改写|提炼|归纳|摘要|转换|"
    r"修改).*(这(一)?[段句篇份些封条]|下面|以下|如下)"
)
TASK_OPENER = rx(
    r"^\W*(please |can you |could you )?(write|draft|create|make|generate|compose|"
    r"give me|tell me|show me|help me|build|design|book|find|list|calculate)\b|"
    r"^\W*(请|麻烦)?(你)?(帮我|给我|替我|帮忙)"
)
# Leading words that only say "you got it wrong"; stripped from the rule that follows.
CORRECTION_PREFIX = rx(
    r"^\W*(no|nope|wrong|not quite|actually|不对|不是这样|错了|不行)[\s]*[,，.。!！]+\s*"
)
CORRECTION = rx(
    r"^\W*(no|nope|wrong|not like that|not quite|actually|instead|too (long|short|"
    r"verbose|wordy|formal|casual|much))\b|^\W*(不对|不是这样|错了|不行|太啰嗦|太长|"
    r"太短|太正式|太随意)|别再"
)

# --- sentence signals ---------------------------------------------------------------

QUESTION_START = rx(
    r"^\W*(what|what's|whats|how|why|where|who|whom|which|when (is|are|was|were|do|does|did|will|can|should|would)\b|is|"
    r"are|was|were|does|did|do you|can (you|i)|could (you|i)|would you|should i|"
    r"shall|will you|any idea)\b"
)
QUESTION_ZH = re.compile(r"什么|怎么|为什么|为何|如何|哪|[吗呢么嘛][\s。.]*$")
POLITE_REQUEST = rx(r"^\W*(can|could|would|will) you\b|^\W*please\b")
# "always"/"never" count unless someone other than "you" is the subject.
ALWAYS_NEVER = rx(r"\b(always|never)\b")
NON_DIRECTIVE_SUBJECT = frozenset(
    "i we he she they it is was are were that this has have had who which".split()
)
PREFERENCE_VERBS = frozenset("want prefer like use need write do".split())
DURABLE = rx(
    r"\bfrom now on\b|\bgoing forward\b|\bin (the )?future\b|\bevery ?time\b|"
    r"\beach time\b|\bwhenever\b|\b(before|after) (each|every|any)\b|"
    r"\b(for|in) (all|every|any)\b|\ball (my|our)\b|\bby default\b|\bas a rule\b|"
    r"\bremember\b|\bi (prefer|like my|'d prefer|would prefer)\b|\bdo(n'?t| not) ever\b|"
    r"\b(any|every)thing (you|i) (write|produce|make|generate|send|say)\b|"
    r"\bevery (day|week|month|morning|evening|sprint|quarter|monday|friday)\b|"
    r"\b(our|my) ([\w-]+ ){0,3}(process|procedure|workflow|flow|routine|playbook|"
    r"runbook|checklist|convention|sop)\b|\bwhen(ever)? \w+ing\b|"
    r"\bmy preference\b|\bwhen(ever)? (i|you|we) (ask|write|draft|send|create|review|"
    r"make|answer|reply|give|generate|report|open|ship|deploy|release|prepare|do)\b|"
    r"^\W*for (\w[\w-]* ){0,3}\w[\w-]*s\s*,|"
    r"以后|今后|往后|从现在起|从今天起|每次|每当|所有|一律|统一|始终|总是|永远|默认|一直都|"
    r"凡是|务必|记住|任何时候|的时候|时[，,]|每周|每天|每月|每个|"
    r"我们的.{0,12}(流程|清单|规范|步骤|约定)"
)
MODAL = rx(
    r"\b(must|should|shall|has to|have to|needs? to)\b|必须|应该|应当|需要|务必|得要"
)
FRAME = rx(
    r"\b(format|template|structure|sections?|layout|process|procedure|workflow|steps|"
    r"flow|routine|playbook|runbook|sop|"
    r"checklist|convention|style guide|include|contain|consist of)\b|格式|模板|结构|流程|"
    r"步骤|规范|清单|顺序|包含|按这个|照这个"
)
STEP_FRAME = rx(
    r"\b(process|procedure|workflow|flow|steps|runbook|playbook|routine|checklist)\b|"
    r"流程|步骤|清单"
)
DIRECTIVE_START = rx(
    r"^\W*(please |also |and |but |then |so )?(always |never )?(use|write|answer|reply|"
    r"give|show|suggest|"
    r"respond|keep|avoid|add|include|put|sign|format|follow|run|make sure|stop|start|"
    r"prefer|limit|stick to|don'?t|do not|no|max|only|call|name|mark|ask|check|"
    r"i prefer|i'd like|i want)\b"
)
DIRECTIVE_ANY = rx(
    r"\b(don'?t|do not|never|avoid|instead of)\b|不要|别(再|用|给|写|加|把|让|提|带)|不用|禁止|不许|不准|不得|"
    r"避免|不能用|控制在|统一用|都用|都要|都按|一律|要(写|用|加|带|有|包含|保持|控制|注明|"
    r"标注|说明|遵守|附)|^\W*(并且|而且|同时|另外|还要)?(请|用|使用|按|照|保持|加上|写|"
    r"语气|格式)"
)

# --- steps ---------------------------------------------------------------------------

ARROW = re.compile(r"\s*(?:-->|——>|->|→|⇒|=>|➡|➜|>>)\s*")
LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)、．:]|[（(]\d{1,2}[)）]|[-*•·])\s*(\S.*)$")
SEQUENCE_EN = rx(
    r"^\W*(and |then )?(first(ly)?|then|next|after that|afterwards|finally|lastly|"
    r"second(ly)?|third(ly)?)\b[\s,]*"
)
SEQUENCE_ZH = re.compile(
    r"^\W*(并且|而且)?(首先|先|然后|接着|之后|随后|再|最后|第[一二三四五六七八九十]步?)[，,\s]*"
)
INLINE_NUMBER = re.compile(r"(?:^|(?<=[\s:：]))\d{1,2}[.)、．]\s*(?=\S)")
# 先 inside a clause, not in 首先/优先/事先/原先/预先/先生.
_MID_FIRST = re.compile(r"(?<=[^\s首优事原预])(?=先(?!生))")
SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|(?<=\.)(?=\s|$)")
CLAUSE_SPLIT = re.compile(r"[，,；;]\s*|\s+and\s+(?=\w)")
COLON = re.compile(r"[:：]\s*")
CONJUNCTION = rx(r"^\W*(and|but|also|then|so|并且|而且|同时|另外|还有|所以)\b\W*")
SECTIONS_SPLIT = re.compile(r"\s*[、/]\s*")
FENCE = re.compile(r"```.*?(```|$)", re.DOTALL)

# --- turn analysis -------------------------------------------------------------------

_REFERS_BACK = rx(r"\b(use|follow|apply) (it|this|that|these)\b|按这个|照这个|就这样")


@dataclass
class TurnEvidence:
    """What one user turn contributes: a score and the material a skill is built from."""

    score: int = 0
    steps: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)

    @property
    def has_content(self) -> bool:
        return bool(self.steps or self.sections or self.rules)

    @property
    def text(self) -> str:
        """Scopes first: the domain named there is the one the skill is about."""
        return " ".join([*self.scopes, *self.steps, *self.sections, *self.rules])


def clean(text: str) -> str:
    text = " ".join(text.split()).strip(" ,，;；:：。.")
    return text[:MAX_ITEM_CHARS]


def _strip_markers(text: str, marker: re.Pattern[str]) -> str:
    # "最后再看" carries two sequence words; both go.
    for _ in range(2):
        text = marker.sub("", text, count=1)
    return clean(text)


def is_question(sentence: str) -> bool:
    text = sentence.strip()
    if POLITE_REQUEST.match(text) and is_durable(text):
        return False  # "could you always reply in French?" is a request
    if text.endswith(("?", "？")) or QUESTION_START.match(text):
        return True
    return is_chinese(text) and bool(QUESTION_ZH.search(text))


def is_durable(text: str) -> bool:
    if DURABLE.search(text):
        return True
    for match in ALWAYS_NEVER.finditer(text):
        before = re.findall(r"[a-z']+", text[: match.start()].lower())[-1:]
        after = re.findall(r"[a-z']+", text[match.end() :].lower())[:1]
        if not before or before[0] not in NON_DIRECTIVE_SUBJECT:
            return True
        if after and after[0] in PREFERENCE_VERBS:
            return True  # "I always use tabs" is a preference; "I never got to" is not
    return False


def directive_count(sentence: str) -> int:
    clauses = [c for c in CLAUSE_SPLIT.split(sentence) if c.strip()]
    return sum(
        1 for c in clauses if DIRECTIVE_START.match(c) or DIRECTIVE_ANY.search(c)
    )


def _items(tail: str) -> tuple[list[str], str]:
    """Items of an enumeration after a colon, and any clause trailing the last one."""
    tail = tail.strip().rstrip("。.")
    parts = SECTIONS_SPLIT.split(tail)
    if len(parts) < 3:
        parts = re.split(r"\s*[,，]\s*(?:and\s+)?|\s+and\s+", tail)
    rest = ""
    if parts and re.search(r"[，,；;]", parts[-1]):
        parts[-1], rest = re.split(r"[，,；;]\s*", parts[-1], maxsplit=1)
    return [clean(p) for p in parts if clean(p)], rest


class _Analysis:
    """Accumulates one turn's signals sentence by sentence."""

    def __init__(self) -> None:
        self.turn = TurnEvidence()
        self.durable = self.modal = self.frame = False
        self.directives = 0

    def _signals(self, text: str) -> None:
        self.durable |= is_durable(text)
        self.modal |= bool(MODAL.search(text))
        self.frame |= bool(FRAME.search(text))
        self.directives += directive_count(text)

    def sentence(self, text: str) -> None:
        text = text.strip()
        if not text or is_question(text):
            return
        self._signals(text)
        if self._arrows(text) or self._colon_list(text) or self._sequence(text):
            return
        if _REFERS_BACK.search(text):
            self.turn.scopes.append(clean(text))
        elif directive_count(text) or MODAL.search(text):
            self.turn.rules.append(clean(CORRECTION_PREFIX.sub("", text)))

    def _list(self, header: str, items: list[str]) -> None:
        """A header line and its enumeration: steps, or sections of a template."""
        if header and not is_question(header):
            self._signals(header)
            self.turn.scopes.append(clean(header))
        marker = SEQUENCE_ZH if is_chinese(" ".join(items)) else SEQUENCE_EN
        items = [s for item in items if (s := _strip_markers(item, marker))]
        if FRAME.search(header) and not STEP_FRAME.search(header):
            self.turn.sections += items
        else:
            self.turn.steps += items

    def _arrows(self, text: str) -> bool:
        parts = ARROW.split(text)
        if len(parts) < 3 or any(len(p) > 120 for p in parts[1:]):
            return False
        colon = max(parts[0].rfind(":"), parts[0].rfind("："))
        head, first = parts[0][: max(colon, 0)], parts[0][colon + 1 :]
        last, *rest = re.split(r"[，,；;]\s*|\.\s+", parts[-1], maxsplit=1)
        self.turn.steps += [clean(p) for p in [first, *parts[1:-1], last] if clean(p)]
        if clean(head):
            self.turn.scopes.append(clean(head))
        for remainder in rest:
            self.sentence(remainder)
        return True

    def _colon_list(self, text: str) -> bool:
        parts = COLON.split(text, maxsplit=1)
        if len(parts) < 2 or _unbalanced(parts[0]):
            return False
        head, tail = parts
        if not (FRAME.search(head) or MODAL.search(head)):
            return False
        items, rest = _items(tail)
        if len(items) < 3 or any(len(i) > 80 for i in items):
            return False
        if STEP_FRAME.search(head):
            self.turn.steps += items
        else:
            self.turn.sections += items
        self.turn.scopes.append(clean(head))
        if rest:
            self.sentence(rest)
        return True

    def _sequence(self, text: str) -> bool:
        clauses = [c for c in re.split(r"[，,；;]\s*", text) if c.strip()]
        marker = SEQUENCE_ZH if is_chinese(text) else SEQUENCE_EN
        if (
            marker is SEQUENCE_ZH
        ):  # "以后都先给结论，再给理由": the sequence starts mid-clause
            clauses = [p for c in clauses for p in _MID_FIRST.split(c, maxsplit=1) if p]
        marked = [i for i, c in enumerate(clauses) if marker.match(c)]
        if len(marked) < 2:
            return False
        self.turn.steps += [
            s for c in clauses[marked[0] :] if (s := _strip_markers(c, marker))
        ]
        if marked[0]:
            self.turn.scopes.append(clean("，".join(clauses[: marked[0]])))
        return True

    def lines(self, lines: list[str]) -> None:
        """Numbered or bulleted runs become steps; other lines are split into sentences."""
        index, header = 0, ""
        while index < len(lines):
            run = []
            while index + len(run) < len(lines) and (
                item := LIST_ITEM.match(lines[index + len(run)])
            ):
                run.append(item.group(1))
            if len(run) >= 2:
                self._list(header, run)
                index += len(run)
                continue
            line = lines[index]
            index += 1
            header = ""
            if line.rstrip().endswith((":", "：")) and index < len(lines):
                header = line  # applies to a list starting on the next line
                if LIST_ITEM.match(lines[index]):
                    continue
            inline = INLINE_NUMBER.split(line)
            if len(inline) >= 4:  # "清单：1. 确认配置 2. 备份数据库 3. 执行迁移"
                self._list(inline[0], inline[1:])
                continue
            for sentence in SENTENCE_END.split(line):
                self.sentence(sentence)


def _unbalanced(text: str) -> bool:
    return text.count("(") + text.count("（") > text.count(")") + text.count("）")


def analyse_turn(text: str, *, replying: bool) -> TurnEvidence:
    """Score one user turn; `replying` is True when it answers an assistant message."""
    text = FENCE.sub(" ", text or "").strip()
    if not text or ACK.match(text):
        return TurnEvidence()
    opener = re.split(r"[:：\n]", text, maxsplit=1)[0]
    payload = bool(PAYLOAD_TASK.search(opener))
    if payload:
        text = opener  # the rest is material to transform, not instructions to keep
    analysis = _Analysis()
    analysis.lines(
        [
            line
            for line in text.splitlines()
            if line.strip() and len(line) <= PASTE_LINE_CHARS
        ]
    )
    turn = analysis.turn
    score = 2 * analysis.durable + analysis.modal + analysis.frame
    score += min(analysis.directives, 2) + bool(turn.sections)
    score += 2 if len(turn.steps) >= 3 else len(turn.steps) == 2
    score += replying and bool(CORRECTION.search(text))
    score -= 3 * (bool(STORY.search(text)) + bool(ONE_OFF.search(text)))
    score -= payload + (bool(TASK_OPENER.match(text)) and not analysis.durable)
    turn.score = score
    return turn
