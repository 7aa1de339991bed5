"""Render retrieved skills into the text placed before the upstream model, within a budget.

The budget is counted in *text units* rather than characters or model tokens: units
track roughly how much a reader (or a tokenizer) has to chew through, in any script,
without pulling a tokenizer for every upstream model into the request path. The
reference counted only CJK ideographs and ASCII words, so Cyrillic, Hangul, kana,
Arabic or accented text cost nothing and a skill in those scripts could blow up the
context without limit; here every character belongs to some costed class.

Budget policy (``render_skills_context``): skills are taken in rank order and one is
admitted only if its frame (heading, id, description, tags, triggers, resources)
plus a small instruction allowance still fits next to those already admitted.
The units left after the frames are then shared max-min fairly (water-filling)
among the admitted skills' instructions: short instructions are kept whole and
what they leave over goes to the longer ones, which are cut at a line or word
boundary and marked. So the first skill cannot starve the rest, yet nothing is
cut when everything fits. Pure module: no Django.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

__all__ = [
    "ContextSkill",
    "RenderedContext",
    "render_skills_context",
    "text_units",
    "truncate_units",
]

# A run of letters or symbols longer than this costs one more unit per started
# chunk, so scripts written without spaces (Thai, Khmer) and pasted blobs (base64)
# are bounded too; whitespace and punctuation are free only in short stretches.
RUN_CHUNK = 16
# Each admitted skill is promised at least this many units of instructions (or its
# whole instructions when shorter); a skill that cannot get it is left out.
MIN_INSTRUCTION_UNITS = 40
MAX_TAGS = 10
MAX_TRIGGERS = 6
MAX_RESOURCES = 12
FIELD_MAX_UNITS = 120  # description, query and each list item are clipped to this
ITEM_MAX_UNITS = 24
# Units set aside per block for pieces whose joins turn two free runs into a costed one.
JOIN_SLACK = 2

HEADING = "## Skills for this request"
INSTRUCTION = (
    "These skills come from the user's skill library. If one of them matches the "
    "request, follow its instructions; ignore the ones that do not apply and do not "
    "mention this list to the user."
)

# CJK ideographs (unified, ext A-H, compatibility, radicals), kana, Bopomofo, Hangul.
_DENSE_RANGES = (
    (0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3040, 0x318F), (0x31A0, 0x31FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF), (0xFF66, 0xFFDC), (0x1B000, 0x1B16F), (0x20000, 0x323AF),
)  # fmt: skip
_WORD_JOINERS = frozenset("_'-\u2019")
_DENSE, _WORD, _GAP = 0, 1, 2
_WS = re.compile(r"\s+")
_TRAILING_BLANKS = re.compile(r"[ \t]+\n")


@lru_cache(maxsize=8192)
def _char_class(char: str) -> int:
    code = ord(char)
    for low, high in _DENSE_RANGES:
        if low <= code <= high:
            return _DENSE
    category = unicodedata.category(char)
    if category[0] in "LNM" or char in _WORD_JOINERS:
        return _WORD
    return _GAP


def _unit_costs(text: str) -> list[int]:
    """Cost each character adds to its prefix, so any prefix's units is a prefix sum.

    A word run costs ceil(len / RUN_CHUNK), a gap run floor(len / RUN_CHUNK), a dense
    character 1. Words start only at a letter or digit, so stray hyphens and
    apostrophes are gap characters.
    """
    costs: list[int] = []
    kind, length = -1, 0
    for char in text:
        cls = _char_class(char)
        if cls == _WORD and kind != _WORD and unicodedata.category(char)[0] not in "LN":
            cls = _GAP
        if cls == _DENSE:
            costs.append(1)
            kind, length = _DENSE, 0
            continue
        length = length + 1 if cls == kind else 1
        kind = cls
        if cls == _WORD:
            costs.append(1 if length % RUN_CHUNK == 1 else 0)
        else:
            costs.append(1 if length % RUN_CHUNK == 0 else 0)
    return costs


@lru_cache(maxsize=4096)
def text_units(text: str) -> int:
    """Budget units of ``text``, defined for every script.

    * one unit per CJK ideograph, kana, Bopomofo or Hangul character (these scripts
      carry about a word in one to three characters);
    * one unit per word: a run of letters, digits and combining marks in any other
      script, continuing over ``_ ' - ’``; a run longer than 16 characters costs one
      unit per started 16 (spaceless scripts, long identifiers, base64);
    * whitespace, punctuation, symbols and emoji are free in runs shorter than 16
      characters and cost one unit per full 16 after that.

    Appending characters never lowers the count, and a text of n characters costs
    at least about n / 32 units, so a unit budget always bounds the length.
    """
    return sum(_unit_costs(text))


def truncate_units(text: str, max_units: int) -> str:
    """The longest head of ``text`` within ``max_units``, cut at a line or word boundary.

    A line break is preferred when it keeps at least half of the possible head; a
    space next; a hard cut between characters only for one unbroken run.
    """
    if max_units <= 0:
        return ""
    costs = _unit_costs(text)
    total, end = 0, 0
    for index, cost in enumerate(costs):
        if total + cost > max_units:
            break
        total += cost
        end = index + 1
    else:
        return text
    head = text[:end]
    if end < len(text) and not text[end].isspace():
        line = head.rfind("\n")
        space = max(head.rfind(" "), head.rfind("\t"))
        if line >= end // 2:
            head = head[:line]
        elif space > 0:
            head = head[:space]
    return head.rstrip()


@dataclass(frozen=True)
class ContextSkill:
    """The part of a skill the renderer and the selector need, free of Django."""

    id: str
    name: str
    title: str = ""
    version: str = ""
    description: str = ""
    triggers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    instructions: str = ""


@dataclass(frozen=True)
class RenderedContext:
    """The injected text plus which skills made it in, whole or cut."""

    text: str
    included_ids: tuple[str, ...] = ()
    truncated_ids: tuple[str, ...] = ()
    units: int = 0
    omitted_ids: tuple[str, ...] = ()


def _line(text: str, max_units: int = FIELD_MAX_UNITS) -> str:
    return truncate_units(_WS.sub(" ", text).strip(), max_units)


def _header(query: str) -> str:
    lines = [HEADING, INSTRUCTION]
    if query.strip():
        lines.append(f"Query: {_line(query)}")
    return "\n".join(lines)


def _items(values: Sequence[str], limit: int) -> list[str]:
    return [_line(v, ITEM_MAX_UNITS) for v in values[:limit] if v.strip()]


def _frame(skill: ContextSkill, number: int) -> str:
    version = f" v{_line(skill.version, 4)}" if skill.version.strip() else ""
    lines = [
        f"### Skill {number}: {_line(skill.name, ITEM_MAX_UNITS)}{version}",
        f"- Id: {_line(skill.id, ITEM_MAX_UNITS)}",
    ]
    if skill.title.strip() and skill.title.strip() != skill.name.strip():
        lines.append(f"- Title: {_line(skill.title, ITEM_MAX_UNITS)}")
    if skill.description.strip():
        lines.append(f"- Description: {_line(skill.description)}")
    if tags := _items(skill.tags, MAX_TAGS):
        lines.append(f"- Tags: {', '.join(tags)}")
    if triggers := _items(skill.triggers, MAX_TRIGGERS):
        lines.append("- Triggers:")
        lines.extend(f"  - {t}" for t in triggers)
    if paths := _items(skill.resources, MAX_RESOURCES):
        lines.append(f"- Resources: {', '.join(paths)}")
    return "\n".join(lines)


def _marker(missing: int) -> str:
    return f"[... truncated: {missing} more units]"


def _bare(frame: str, instructions: str) -> str:
    return f"{frame}\n- Instructions:" if instructions else frame


def _block(frame: str, instructions: str, allowance: int | None) -> tuple[str, bool]:
    """One skill block with its instructions cut to ``allowance`` units (None: whole)."""
    if not instructions:
        return frame, False
    full = text_units(instructions)
    if allowance is None or full <= allowance:
        return f"{_bare(frame, instructions)}\n{instructions}", False
    head = truncate_units(instructions, allowance - text_units(_marker(full)))
    marker = _marker(full - text_units(head))
    body = f"{head}\n{marker}" if head else marker
    return f"{_bare(frame, instructions)}\n{body}", True


def _water_fill(demands: list[int], available: int) -> list[int | None]:
    """Max-min fair shares of ``available``; None means whole, leftovers favour rank."""
    shares: list[int | None] = [None] * len(demands)
    if sum(demands) <= available:
        return shares
    pending = sorted(range(len(demands)), key=lambda i: (demands[i], i))
    remaining = max(available, 0)
    while pending:
        level = remaining // len(pending)
        if demands[pending[0]] <= level:
            remaining -= demands[pending.pop(0)]
            continue
        extra = remaining - level * len(pending)
        for rank, index in enumerate(sorted(pending)):
            shares[index] = level + 1 if rank < extra else level
        break
    return shares


def _assemble(header: str, blocks: Sequence[str]) -> str:
    return "\n\n".join([header, *blocks]).strip() + "\n"


def _clean_instructions(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _TRAILING_BLANKS.sub("\n", text).strip("\n").rstrip()


def render_skills_context(
    skills: Sequence[ContextSkill], *, query: str = "", max_units: int
) -> RenderedContext:
    """Render ``skills`` (best first) so the result never exceeds ``max_units``.

    ``max_units=0`` disables the budget. With no skill admitted the text is empty:
    a header without skills would only cost the model attention.
    """
    if max_units < 0:
        raise ValueError("max_units must be >= 0 (0 means unlimited)")
    header = _header(query)
    prepared = [(skill, _clean_instructions(skill.instructions)) for skill in skills]
    if not prepared:
        return RenderedContext(text="")
    if max_units == 0:
        blocks = [
            _block(_frame(skill, number), text, None)[0]
            for number, (skill, text) in enumerate(prepared, 1)
        ]
        text = _assemble(header, blocks)
        ids = tuple(skill.id for skill, _ in prepared)
        return RenderedContext(text=text, included_ids=ids, units=text_units(text))

    admitted: list[tuple[ContextSkill, str]] = []
    for skill, instructions in prepared:
        trial = [*admitted, (skill, instructions)]
        bare = [_bare(_frame(s, n), t) for n, (s, t) in enumerate(trial, 1)]
        floors = sum(min(text_units(t), MIN_INSTRUCTION_UNITS) for _, t in trial)
        if (
            text_units(_assemble(header, bare)) + floors + JOIN_SLACK * len(trial)
            <= max_units
        ):
            admitted.append((skill, instructions))
    result = _fit(header, admitted, max_units)
    kept = {id(skill) for skill, _ in admitted}
    omitted = tuple(skill.id for skill, _ in prepared if id(skill) not in kept)
    return replace(result, omitted_ids=omitted)


def _fit(
    header: str,
    admitted: list[tuple[ContextSkill, str]],
    max_units: int,
) -> RenderedContext:
    """Share what the frames leave among the instructions, then verify the total.

    Joining pieces can merge two free short runs of punctuation into a costed one,
    so the assembled text is measured and the largest share shrunk until it fits;
    as a last resort the lowest-ranked skill is dropped (from ``admitted`` too).
    """
    while admitted:
        frames = [
            _frame(skill, number) for number, (skill, _) in enumerate(admitted, 1)
        ]
        bare = [_bare(f, t) for f, (_, t) in zip(frames, admitted, strict=True)]
        spare = max_units - text_units(_assemble(header, bare)) - JOIN_SLACK * len(bare)
        demands = [text_units(t) for _, t in admitted]
        shares = _water_fill(demands, spare)
        for _attempt in range(32):
            built = [
                _block(f, t, share)
                for f, (_, t), share in zip(frames, admitted, shares, strict=True)
            ]
            text = _assemble(header, [block for block, _ in built])
            units = text_units(text)
            if units <= max_units:
                return RenderedContext(
                    text=text,
                    included_ids=tuple(skill.id for skill, _ in admitted),
                    truncated_ids=tuple(
                        skill.id
                        for (skill, _), (_, cut) in zip(admitted, built, strict=True)
                        if cut
                    ),
                    units=units,
                )
            sizes = [
                d if s is None else s for d, s in zip(demands, shares, strict=True)
            ]
            biggest = max(range(len(sizes)), key=lambda i: (sizes[i], -i))
            if sizes[biggest] <= 0:
                break
            shares[biggest] = max(sizes[biggest] - (units - max_units), 0)
        admitted.pop()
    return RenderedContext(text="")
