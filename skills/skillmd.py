"""Read and write SKILL.md files.

Three dialects are read: ours (spec frontmatter with AutoSkill fields under
``metadata``), the original AutoSkill package's layout (``id``/``version``/``tags``
at the top level) and plain Agent Skills. Only ours is written, and it always
passes the ``skills-ref`` validator. Pure module: stdlib and PyYAML only, so the
format can be tested and reused without Django.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skills.skillmd_yaml import (
    DESC_LENGTH_KEY,
    JSON_KEY,
    SUFFIX_KEY,
    SkillMdError,
    decode_extra,
    encode_extra,
    fallback_description,
    first_h1,
    legacy_sections,
    load_frontmatter,
    paragraph_after,
    quote,
    scalar_text,
    split_frontmatter,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "Example",
    "SkillDocument",
    "SkillMdError",
    "is_valid_slug",
    "normalise_list",
    "parse_skill_md",
    "render_skill_md",
    "slugify",
]

DESCRIPTION_LIMIT = 1024
NAME_LIMIT = 64
# A slug is also a folder name; most filesystems cap a name at 255 bytes.
_NAME_BYTE_LIMIT = 255
_LEGACY_KEYS = frozenset({"id", "version", "tags", "triggers", "examples"})
_OURS_KEYS = frozenset({"id", "version", "title", "tags", "triggers"})
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_DEFAULT_VERSION = "0.1.0"
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Example:
    """One worked example; only the input is required."""

    input: str
    output: str = ""
    notes: str = ""


@dataclass(frozen=True)
class SkillDocument:
    """Everything a SKILL.md file carries, independent of how it was spelled."""

    name: str = ""
    title: str = ""
    description: str = ""
    instructions: str = ""
    version: str = _DEFAULT_VERSION
    id: str = ""
    tags: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    files: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    format: str = "autoskill"


# --------------------------------------------------------------------------- names


def is_valid_slug(text: str) -> bool:
    """Whether ``text`` can be used unchanged as a spec ``name`` and folder name.

    Stricter than skills-ref in one way: the text must already be NFKC-normal, so a
    name and its folder never differ by normalisation.
    """
    return (
        isinstance(text, str)
        and 0 < len(text) <= NAME_LIMIT
        and all(ch.isalnum() or ch == "-" for ch in text)
        and not text.startswith("-")
        and not text.endswith("-")
        and "--" not in text
        and unicodedata.normalize("NFKC", text) == text
        and text.lower() == text
        and len(text.encode("utf-8")) <= _NAME_BYTE_LIMIT
    )


def slugify(text: str, *, max_length: int = NAME_LIMIT) -> str:
    """Make a spec-valid slug, keeping non-ASCII letters; ``""`` if nothing is left.

    NFKC and lower-casing can each undo the other (ligatures, titlecase digraphs),
    so the whole pipeline repeats until it is stable and then is checked.
    """
    limit = max(0, min(max_length, NAME_LIMIT))
    slug = scalar_text(text)
    for _ in range(4):
        slug = _fold_case(slug)
        slug = "".join(ch if ch.isalnum() else "-" for ch in slug)
        slug = re.sub(r"-{2,}", "-", slug).strip("-")[:limit].rstrip("-")
        while len(slug.encode("utf-8", "surrogatepass")) > _NAME_BYTE_LIMIT:
            slug = slug[:-1].rstrip("-")
        if not slug or is_valid_slug(slug):
            return slug
    return ""


def _fold_case(text: str) -> str:
    for _ in range(8):
        folded = unicodedata.normalize("NFKC", text).lower()
        if folded == text:
            break
        text = folded
    return text


def normalise_list(values: object) -> tuple[str, ...]:
    """Strip, drop blanks and case-insensitive repeats; the first spelling wins."""
    if values is None:
        return ()
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        values = [values]
    seen: set[str] = set()
    result: list[str] = []
    for item in values:
        text = _clean(item).strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    return tuple(result)


def _clean(value: object) -> str:
    """Drop lone surrogates: they cannot be written as UTF-8 to a file or database."""
    return _SURROGATES.sub("", scalar_text(value))


def _title_value(title: object) -> str:
    text = _clean(title)
    if any(ch in _LINE_BREAKS for ch in text):
        return " ".join(text.split())
    return text.strip()


def _prettify(name: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in name.replace("-", " ").split())


# ------------------------------------------------------------------------ rendering


def render_skill_md(doc: SkillDocument) -> str:
    """Write ``doc`` in our dialect; the result always passes skills-ref validation.

    The frontmatter is authoritative: head and tail of the body are derived from it,
    so parsing can strip them exactly and recover any instructions text verbatim.
    """
    name = _output_name(doc)
    title = _title_value(doc.title)
    heading = " ".join(title.split()) or name
    description = _clean(doc.description)
    tags, triggers = normalise_list(doc.tags), normalise_list(doc.triggers)
    files = normalise_list(doc.files)
    examples = _clean_examples(doc.examples)
    summary = _summary(description) or heading
    tail = _tail(files, triggers, examples)
    instructions = _clean(doc.instructions)
    full = _head(heading, description) + instructions + tail
    body = full.rstrip("\r\n")
    suffix = full[len(body) :] if instructions or tail else ""

    lines = ["---", f"name: {quote(name)}", f"description: {quote(summary)}"]
    top, plain, encoded = encode_extra(doc.extra)
    lines += [f"{key}: {quote(value)}" for key, value in top]
    lines.append("metadata:")
    if _clean(doc.id).strip():
        lines.append(f"  id: {quote(_clean(doc.id).strip())}")
    lines.append(f"  version: {quote(_clean(doc.version).strip() or _DEFAULT_VERSION)}")
    if title:
        lines.append(f"  title: {quote(title)}")
    for key, values in (("tags", tags), ("triggers", triggers)):
        if values:
            lines.append(f"  {key}:")
            lines += [f"    - {quote(value)}" for value in values]
    if examples:
        lines.append("  examples:")
        for ex in examples:
            lines.append(f"    - input: {quote(ex.input)}")
            lines += [f"      {k}: {quote(v)}" for k, v in _example_extras(ex)]
    if files:
        lines.append("  files:")
        lines += [f"    - {quote(path)}" for path in files]
    lines += [f"  {quote(key)}: {quote(value)}" for key, value in plain]
    if encoded:
        lines.append(f"  {JSON_KEY}:")
        lines += [f"    {quote(key)}: {quote(value)}" for key, value in encoded]
    # Layout hints, written only when the body alone is ambiguous: a cut or blank
    # summary hides where the description ends, and the file may end in only one
    # newline, so trailing line breaks of the last section are stored here.
    if summary != description:
        lines.append(f"  {DESC_LENGTH_KEY}: {quote(str(len(description)))}")
    if suffix:
        lines.append(f"  {SUFFIX_KEY}: {quote(suffix)}")
    lines.append("---")
    return "\n".join(lines) + "\n\n" + body + "\n"


def _output_name(doc: SkillDocument) -> str:
    if is_valid_slug(doc.name):
        return doc.name
    return slugify(doc.name) or slugify(doc.title) or "skill"


def _summary(description: str) -> str:
    """The frontmatter description: the spec caps it, the body keeps it whole."""
    if not description.strip():
        return ""
    if len(description) <= DESCRIPTION_LIMIT:
        return description
    return description[: DESCRIPTION_LIMIT - 1].rstrip() + "…"


def _clean_examples(examples: Iterable[Example]) -> tuple[Example, ...]:
    cleaned = (
        Example(_clean(ex.input), _clean(ex.output), _clean(ex.notes))
        for ex in examples
    )
    return tuple(ex for ex in cleaned if ex.input.strip())


def _example_extras(ex: Example) -> list[tuple[str, str]]:
    return [(k, v) for k, v in (("output", ex.output), ("notes", ex.notes)) if v]


def _head(heading: str, description: str) -> str:
    paragraph = f"{description}\n\n" if description else ""
    return f"# {heading}\n\n{paragraph}## Prompt\n\n"


def _tail(
    files: tuple[str, ...], triggers: tuple[str, ...], examples: tuple[Example, ...]
) -> str:
    sections = []
    if files:
        sections.append("## Files\n\n" + "\n".join(f"- `{p}`" for p in files))
    if triggers:
        sections.append("## Triggers\n\n" + "\n".join(f"- {t}" for t in triggers))
    if examples:
        blocks = [_example_block(n, ex) for n, ex in enumerate(examples, start=1)]
        sections.append("## Examples\n\n" + "\n\n".join(blocks))
    return "".join("\n\n" + section for section in sections)


def _example_block(number: int, ex: Example) -> str:
    parts = [f"### Example {number}", "Input:", _indent(ex.input)]
    for key, value in _example_extras(ex):
        parts += [f"{key.capitalize()}:", _indent(value)]
    return "\n\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


# -------------------------------------------------------------------------- parsing


def parse_skill_md(text: str, *, fallback_name: str = "") -> SkillDocument:
    """Read any of the three dialects; raise SkillMdError for unusable frontmatter.

    A file that opens with ``---`` but never closes it is an error rather than
    plain body text: silently reading YAML as instructions would hide the mistake.
    """
    data, rest = _read_frontmatter(text.removeprefix("\ufeff"))
    raw_meta = data.get("metadata")
    meta: dict[str, Any] = {}
    if isinstance(raw_meta, dict):
        meta = {scalar_text(k): v for k, v in raw_meta.items()}
    if any(key in meta for key in _OURS_KEYS):
        fmt = "autoskill"
    elif any(key in data for key in _LEGACY_KEYS):
        fmt = "legacy"
    else:
        fmt = "agentskills"
    src = meta if fmt == "autoskill" else data
    body = rest.replace("\r\n", "\n").strip()
    lines = body.split("\n")

    fm_name = scalar_text(data.get("name")).strip()
    title = _title_value(meta.get("title")) if fmt == "autoskill" else ""
    if not title and fmt == "legacy":
        title = _title_value(fm_name)
    h1 = first_h1(lines)
    if not title and h1 is not None:
        title = _title_value(lines[h1][2:])
    title = title or _prettify(fm_name) or _title_value(fallback_name)
    name = fm_name if is_valid_slug(fm_name) else slugify(fm_name)
    name = name or slugify(title) or slugify(fallback_name) or "skill"

    fm_description = scalar_text(data.get("description"))
    triggers = normalise_list(src.get("triggers", src.get("trigger")))
    examples = _parse_examples(src.get("examples"))
    files = normalise_list(meta.get("files")) if fmt == "autoskill" else ()
    decoded = None
    if fmt == "autoskill":
        heading = " ".join(title.split()) or name
        tail = _tail(files, triggers, examples)
        decoded = _decode_exact(rest, heading, fm_description, meta, tail)
    if decoded is not None:
        description, instructions = decoded
    elif fmt == "agentskills":
        description = fm_description.strip() or paragraph_after(lines, h1) or title
        instructions = body
    else:
        description = fallback_description(fm_description, lines, h1, title)
        instructions, body_files = legacy_sections(lines, h1, title, description)
        files = files or normalise_list(body_files)
        legacy_prompt = data.get("prompt", data.get("instructions"))
        if fmt == "legacy" and scalar_text(legacy_prompt).strip():
            instructions = scalar_text(legacy_prompt).strip()

    return SkillDocument(
        name=name,
        title=title,
        description=description,
        instructions=instructions,
        version=scalar_text(src.get("version")).strip() or _DEFAULT_VERSION,
        id=scalar_text(
            meta.get("id") or data.get("id") or data.get("skill_id")
        ).strip(),
        tags=normalise_list(src.get("tags", src.get("tag"))),
        triggers=triggers,
        examples=examples,
        files=files,
        extra=decode_extra(data, meta, fmt),
        format=fmt,
    )


def _read_frontmatter(text: str) -> tuple[dict[str, Any], str]:
    yaml_text, rest = split_frontmatter(text)
    loaded = None if yaml_text is None else load_frontmatter(yaml_text, first_line=2)
    if loaded is None or isinstance(loaded, dict):
        return {scalar_text(k): v for k, v in (loaded or {}).items()}, rest
    kind = "a list" if isinstance(loaded, list) else f"the scalar {loaded!r}"
    raise SkillMdError(
        "SKILL.md frontmatter must be a YAML mapping of keys to values "
        f"(like 'name: my-skill'), but it is {kind}."
    )


def _decode_exact(
    rest: str, heading: str, fm_description: str, meta: Mapping[str, Any], tail: str
) -> tuple[str, str] | None:
    """Undo render_skill_md exactly, or return None if the body was edited by hand."""
    if not (rest.startswith("\n") and rest.endswith("\n")):
        return None
    body = rest[1:-1]
    h1 = f"# {heading}\n\n"
    if not body.startswith(h1):
        return None
    length = scalar_text(meta.get(DESC_LENGTH_KEY)).strip()
    if length.isascii() and length.isdigit():
        description = body[len(h1) : len(h1) + int(length)]
    else:
        description = fm_description
    head = _head(heading, description)
    full = body + scalar_text(meta.get(SUFFIX_KEY))
    if full.startswith(head) and full.endswith(tail):
        if len(full) >= len(head) + len(tail):
            return description, full[len(head) : len(full) - len(tail)]
    if not tail and full == head.rstrip("\r\n"):
        return description, ""
    return None


def _parse_examples(raw: object) -> tuple[Example, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Example(*(scalar_text(item.get(key)) for key in ("input", "output", "notes")))
        for item in raw
        if isinstance(item, dict) and scalar_text(item.get("input")).strip()
    )
