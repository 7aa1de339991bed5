"""Lower-level helpers for :mod:`skills.skillmd`.

Frontmatter YAML (splitting, loading, quoting, the encoding of extra keys) and
the Markdown scanning needed for bodies that were written by hand. Kept apart so
the format logic in skills.skillmd stays readable. Pure: stdlib and PyYAML only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

_COMPATIBILITY_LIMIT = 500
_SPEC_TOP_LEVEL = ("license", "compatibility", "allowed-tools")
JSON_KEY = "x-json"
DESC_LENGTH_KEY = "x-description-length"
SUFFIX_KEY = "x-body-suffix"
# Metadata keys that carry fields of ours; an extra key spelled like one of them
# is JSON-encoded instead so it cannot be mistaken for the field.
_RESERVED_META = frozenset(
    {"id", "version", "title", "tags", "tag", "triggers", "trigger", "examples"}
    | {"files", JSON_KEY, DESC_LENGTH_KEY, SUFFIX_KEY}
)
_LEGACY_CONSUMED = frozenset(
    {"version", "tags", "tag", "triggers", "trigger", "examples"}
)
# Trailing sections written after the prompt, in the order they must appear.
_TAIL_ORDER = {"## files": 0, "## triggers": 1, "## examples": 2}

# Characters that YAML forbids unescaped in a stream, plus the ones that readers
# treat as line breaks or byte-order marks; all of them are written as escapes.
_UNICODE_ESCAPED = {0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF}
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_MAX_DEPTH = 50
# Far above any real frontmatter (hundreds of values), far below a slow one.
_MAX_VALUES = 100_000


class SkillMdError(ValueError):
    """SKILL.md text that cannot be parsed (bad YAML, frontmatter not a mapping, ...).

    The message is meant for people. Defined here so the YAML helpers can raise
    it; import it from skills.skillmd.
    """


# libyaml's parser is ~10x faster than the pure-Python one; bulk imports parse thousands.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """SafeLoader with YAML 1.2-style implicit typing.

    YAML 1.1 turns `version: 1.10` into the float 1.1, `010` into 8 and `name: No`
    into False, which silently corrupts hand-written skills. Only null, true/false
    and plain decimal integers are typed; floats and dates stay as their text.
    """


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def load_frontmatter(text: str, *, first_line: int = 1) -> Any:
    """Parse frontmatter YAML, turning PyYAML errors into a readable message.

    ``first_line`` is the file line number of the frontmatter's first line, so the
    reported position points into the SKILL.md file rather than the YAML snippet.
    """
    try:
        loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise SkillMdError(_describe_yaml_error(exc, text, first_line)) from exc
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        # PyYAML's constructors leak these for values like `!!int x` or `!!timestamp -`.
        raise SkillMdError(
            f"SKILL.md frontmatter is not valid YAML: {type(exc).__name__}: {exc}"
        ) from exc
    _check_expansion(loaded)
    return loaded


def _check_expansion(value: Any) -> None:
    """Refuse frontmatter whose aliases expand it past `_MAX_VALUES` values.

    PyYAML shares an aliased node instead of copying it, so "billion laughs"
    (nine aliases of nine aliases of ...) loads in microseconds; every later walk
    (`to_json_value`, rendering, storing) then expands it, and one 500-byte
    SKILL.md kept a request busy for minutes. Counted iteratively, stopping early.
    """
    stack = [(value, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = [*node.keys(), *node.values()]
        elif isinstance(node, list | tuple | set | frozenset):
            children = node
        else:
            continue
        if depth > _MAX_DEPTH:
            raise SkillMdError(
                "SKILL.md frontmatter is nested too deeply (or an anchor refers to itself)"
            )
        seen += len(children)
        if seen > _MAX_VALUES:
            raise SkillMdError(
                f"SKILL.md frontmatter expands to more than {_MAX_VALUES} values "
                "(YAML aliases that repeat each other?)"
            )
        stack.extend((child, depth + 1) for child in children)


def _describe_yaml_error(exc: yaml.YAMLError, text: str, first_line: int) -> str:
    """Name the offending line(s) in file terms, quoting the YAML source.

    PyYAML often reports the problem where it gave up (e.g. the end of the
    frontmatter) and the real culprit as the "context", so both are shown.
    """
    lines = text.split("\n")

    def where(mark: Any) -> str:
        if mark.line >= len(lines) - 1 and not lines[-1].strip():
            return f"line {mark.line + first_line} (the end of the frontmatter)"
        spot = f"line {mark.line + first_line}, column {mark.column + 1}"
        if 0 <= mark.line < len(lines) and lines[mark.line].strip():
            spot += f": {lines[mark.line].strip()}"
        return spot

    problem = getattr(exc, "problem", None)
    problem_mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    message = f"SKILL.md frontmatter is not valid YAML: {problem or exc}"
    if problem_mark is not None:
        message += f"\n  at {where(problem_mark)}"
    if context:
        message += f"\n  {context}"
        if context_mark is not None:
            message += f" at {where(context_mark)}"
    return message


def quote(value: str) -> str:
    """Write ``value`` as a double-quoted YAML scalar both PyYAML and strictyaml decode.

    yaml.dump is avoided because its output depends on width/style options and can
    emit a literal ``---`` that skills-ref's naive ``split("---")`` would cut at.
    """
    out: list[str] = []
    hyphens = 0
    for ch in value:
        code = ord(ch)
        if ch == "-":
            hyphens += 1
            if hyphens == 3:
                out.append("\\x2d")
                hyphens = 0
            else:
                out.append(ch)
            continue
        hyphens = 0
        if 0xD800 <= code <= 0xDFFF:
            continue  # a lone surrogate cannot be encoded as UTF-8
        if ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in _UNICODE_ESCAPED:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def scalar_text(value: object) -> str:
    """Stringify a YAML value the way a person would have typed it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return json.dumps(to_json_value(value), ensure_ascii=False)


def to_json_value(value: object, _depth: int = 0) -> Any:
    """Convert loaded YAML into plain JSON-compatible data.

    Self-referencing anchors would otherwise recurse forever, hence the depth cap.
    """
    if _depth > _MAX_DEPTH:
        raise SkillMdError(
            "SKILL.md frontmatter is nested too deeply (or an anchor refers to itself)"
        )
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {scalar_text(k): to_json_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v, _depth + 1) for v in value]
    return str(value)


# ---------------------------------------------------------------------- frontmatter


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """Return (frontmatter YAML or None, text after its closing line)."""
    end = text.find("\n")
    if (text if end < 0 else text[:end]).strip() != "---":
        return None, text
    start = pos = end + 1
    while end >= 0:
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos:end]
        if line.strip() == "---":
            return text[start:pos], "" if end < 0 else text[end + 1 :]
        pos = end + 1
    raise SkillMdError(
        "SKILL.md frontmatter is not closed: the file starts with a '---' line but "
        "no later line is '---'. Add the closing '---' after the YAML keys, or "
        "remove the first line if the file has no frontmatter."
    )


def encode_extra(
    extra: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Sort extra keys into spec top-level keys, plain metadata and JSON-encoded.

    Metadata values must be strings for skills-ref, so anything else (and any key
    that would collide with a field of ours) is JSON-encoded under ``x-json``.
    """
    top, plain, encoded = [], [], []
    for raw_key, value in extra.items():
        key = scalar_text(raw_key)
        if isinstance(value, str) and key in _SPEC_TOP_LEVEL:
            if key != "compatibility" or len(value) <= _COMPATIBILITY_LIMIT:
                top.append((key, value))
            else:
                plain.append((key, value))
        elif isinstance(value, str) and key not in _RESERVED_META:
            plain.append((key, value))
        else:
            encoded.append((key, json.dumps(to_json_value(value), ensure_ascii=False)))
    return top, plain, encoded


def decode_extra(
    data: Mapping[str, Any], meta: Mapping[str, Any], fmt: str
) -> dict[str, Any]:
    """Gather every key the fields did not consume, so re-rendering loses nothing.

    Top-level keys win over metadata keys of the same name; ``x-json`` values are
    decoded back (a hand-broken one is kept as its text).
    """
    consumed = {"name", "description", "metadata", "id", "skill_id"}
    if fmt != "autoskill":
        consumed |= _LEGACY_CONSUMED
    if fmt == "legacy":
        consumed |= {"prompt", "instructions"}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key not in consumed:
            extra.setdefault(key, to_json_value(value))
    if "metadata" in data and not isinstance(data["metadata"], dict):
        extra.setdefault("metadata", to_json_value(data["metadata"]))
    skip = _RESERVED_META if fmt == "autoskill" else frozenset({JSON_KEY})
    for key, value in meta.items():
        if key not in skip:
            extra.setdefault(key, to_json_value(value))
    encoded = meta.get(JSON_KEY)
    if isinstance(encoded, dict):
        for key, value in encoded.items():
            try:
                decoded = json.loads(scalar_text(value))
            except ValueError:
                decoded = to_json_value(value)
            extra.setdefault(scalar_text(key), decoded)
    return extra


# ------------------------------------------------------------- hand-written bodies


def first_h1(lines: list[str]) -> int | None:
    """Index of the first ``# `` heading, ignoring shell comments in code fences."""
    fenced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.startswith("# ") and line[2:].strip():
            return index
    return None


def paragraph_after(lines: list[str], index: int | None) -> str:
    """The paragraph under a heading, joined into one line, as a summary fallback."""
    if index is None:
        return ""
    collected: list[str] = []
    for line in lines[index + 1 :]:
        if not line.strip():
            if collected:
                break
            continue
        if line.startswith("#"):
            break
        collected.append(line.strip())
    return " ".join(collected)


def fallback_description(
    fm_description: str, lines: list[str], h1: int | None, title: str
) -> str:
    """Prefer the frontmatter, unless it is a cut-off copy of the body paragraph."""
    description = fm_description.strip()
    prompt = _find_heading(lines, "## prompt")
    if description.endswith("…") and h1 is not None and prompt is not None:
        paragraph = "\n".join(lines[h1 + 1 : prompt]).strip()
        if paragraph.startswith(description[:-1].rstrip()):
            return paragraph
    return description or paragraph_after(lines, h1) or title


def legacy_sections(
    lines: list[str], h1: int | None, title: str, description: str
) -> tuple[str, list[str]]:
    """Prompt text up to the trailing Files/Triggers/Examples run, and the file list.

    The original package stopped at the first ``# `` line and so lost prompts that
    start with ``# Goal``; only the known trailing H2 sections end the prompt here.
    """
    start = _find_heading(lines, "## prompt")
    if start is None:
        start = _find_heading(lines, "## instructions")
    if start is not None:
        start += 1
    else:
        start = _skip_head(lines, h1, title, description)
    end = _tail_start(lines, start)
    files: list[str] = []
    section = ""
    for line in lines[end:]:
        if line.startswith("## "):
            section = " ".join(line.split()).lower()
        elif section == "## files" and line.lstrip().startswith(("- ", "* ")):
            files.append(line.lstrip()[2:].strip().strip("`").strip())
    return "\n".join(lines[start:end]).strip(), files


def _find_heading(lines: list[str], heading: str) -> int | None:
    for index, line in enumerate(lines):
        if " ".join(line.split()).lower() == heading:
            return index
    return None


def _skip_head(lines: list[str], h1: int | None, title: str, description: str) -> int:
    """Skip a leading ``# title`` line and a paragraph repeating the description."""
    index = 0
    if h1 == 0 and " ".join(lines[0][2:].split()) == " ".join(title.split()):
        index = 1
    while index < len(lines) and not lines[index].strip():
        index += 1
    end = index
    while end < len(lines) and lines[end].strip():
        end += 1
    paragraph = " ".join(" ".join(lines[index:end]).split())
    if paragraph and paragraph == " ".join(description.split()):
        index = end
    return index


def _tail_start(lines: list[str], start: int) -> int:
    """Where the trailing run of known sections begins (len(lines) if there is none)."""
    tail, rank = len(lines), len(_TAIL_ORDER)
    for index in range(len(lines) - 1, start - 1, -1):
        line = lines[index]
        if line.startswith(("# ", "## ")) or line.rstrip() in ("#", "##"):
            order = _TAIL_ORDER.get(" ".join(line.split()).lower())
            if order is None or order >= rank:
                break
            tail, rank = index, order
    return tail
