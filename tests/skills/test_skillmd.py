"""SKILL.md parsing and rendering (pure module: runs without Django)."""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

import pytest
import strictyaml
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skills_ref import parser as sr_parser
from skills_ref import validator as sr_validator

from skills.skillmd import (
    DESCRIPTION_LIMIT,
    Example,
    SkillDocument,
    SkillMdError,
    is_valid_slug,
    normalise_list,
    parse_skill_md,
    render_skill_md,
    slugify,
)
from skills.skillmd_yaml import quote

LEGACY_DIR = Path("/work/shared/bench/dev/skills")
AGENT_SKILLS_DIR = Path("/work/shared/fixtures/agent-skills")
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

needs_legacy = pytest.mark.skipif(not LEGACY_DIR.is_dir(), reason="bench data absent")
needs_fixtures = pytest.mark.skipif(
    not AGENT_SKILLS_DIR.is_dir(), reason="agent-skills fixtures absent"
)


def frontmatter_yaml(text: str) -> str:
    """The YAML between the opening and closing `---` lines."""
    return text.split("\n---\n", 1)[0].removeprefix("---\n")


def validate_on_disk(root: Path, text: str, name: str) -> list[str]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(text, encoding="utf-8", newline="")
    return sr_validator.validate(folder)


def validate_in_memory(text: str, name: str) -> list[str]:
    metadata, _ = sr_parser.parse_frontmatter(text)
    return sr_validator.validate_metadata(metadata, Path(name))


def doc(**fields: object) -> SkillDocument:
    fields.setdefault("title", "Sample Skill")
    fields.setdefault("name", slugify(str(fields["title"])) or "skill")
    return SkillDocument(**fields)  # type: ignore[arg-type]


LONG_DESCRIPTION = ("Explains the release checklist step by step. " * 30)[:1130]

ROUND_TRIP_CASES = {
    "chinese": doc(
        title="公众号 技术/传播 风格",
        description="为公众号文章提供技术传播风格的写作规范。",
        instructions="# 角色与目标\n用通俗语言解释技术概念。\n\n# 约束\n- 不要夸张",
        tags=("写作", "公众号"),
        triggers=("帮我写公众号文章",),
    ),
    "emoji_quotes_colons": doc(
        title='Launch 🚀 "quoted": yes',
        description=(
            "Use when: the user says \"ship it\" — or 'go' #now {x: 1} [a, b] & *star"
        ),
        instructions="key: value\n'single' \"double\" `code` \\backslash\\ 😀",
        tags=("🚀", "a: b", "- dash", "? question", "!tag", "%pct", "@at"),
        examples=(Example(input='say "hi": now', output="ok: 👍", notes="n: 1"),),
    ),
    "hyphen_runs": doc(
        title="Rule --- here ----- there",
        description="a --- b\n---\nc ------- d",
        instructions="---\nfront: matter\n---\n\nbody with --- inside\n---",
        tags=("---", "----", "x---y"),
        triggers=("--- trigger ---",),
        examples=(Example(input="---", output="--", notes="-----"),),
        extra={"note": "--- yes ---", "---": "key ---"},
    ),
    "multiline_description": doc(
        description="Line one.\nLine two.\n\nSecond paragraph:\n  - indented bullet",
        instructions="Do the thing.",
    ),
    "long_description": doc(description=LONG_DESCRIPTION, instructions="Check it."),
    "prompt_with_headings": doc(
        description="Prompt that looks like the file around it.",
        instructions=(
            "# Goal\nWrite it.\n\n## Triggers\n\n- not a trigger\n\n## Examples\n\n"
            "### Example 1\n\nInput:\n\n  fake\n\n"
            "# Constraints & Style\n- short\n\n## Files"
        ),
        triggers=("real trigger", "another one"),
        examples=(Example(input="real input", output="real output", notes="why"),),
        files=("scripts/run.py", "references/guide.md"),
    ),
    "empty_lists": doc(description="Nothing listed.", instructions="Just do it."),
    "empty_everything": doc(title="Bare"),
    "whitespace_edges": doc(
        description="  padded description \n",
        instructions="\n\n  leading blank lines and trailing ones\n\n\n",
        triggers=("t",),
    ),
    "control_characters": doc(
        title="Tab\there",
        description=(
            "nul\x00 bell\x07 esc\x1b del\x7f nel\x85 ls\u2028 ps\u2029 bom\ufeff"
        ),
        instructions="\r\nwindows\r\nline\rends\x0c\x0b\x1c",
        tags=("a\x00b",),
        examples=(Example(input="\x01in", output="\x9fout"),),
    ),
    "extras": doc(
        description="Has extra keys.",
        instructions="Go.",
        extra={
            "license": "Apache-2.0",
            "compatibility": "Needs python3 and network access",
            "allowed-tools": "Bash(git:*) Read",
            "author": "someone",
            "count": 3,
            "ratio": 0.5,
            "flags": [True, False, None],
            "nested": {"a": [1, {"b": "c"}]},
            "id": "not our id",
            "name": "not our name",
            "x-json": "collides with the marker",
            "empty": "",
        },
    ),
    "long_compatibility": doc(
        description="Compatibility over the spec limit.",
        extra={"compatibility": "c" * 600, "license": ["MIT", "Apache-2.0"]},
    ),
    "identity_fields": doc(
        id="46524994-8726-4c21-a3e6-8714685e83f8",
        version="2.3.4",
        description="d",
        instructions="i",
    ),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIP_CASES))
def test_render_then_parse_round_trips(case: str, tmp_path: Path) -> None:
    """Render then parse gives an equal document, and the file is spec-valid."""
    # given
    original = ROUND_TRIP_CASES[case]
    # when
    text = render_skill_md(original)
    parsed = parse_skill_md(text)
    # then
    assert parsed == original
    assert parsed.format == "autoskill"
    assert validate_on_disk(tmp_path, text, original.name) == []
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "---" not in frontmatter_yaml(text)


def test_rendered_layout_is_stable() -> None:
    """The rendered file follows the documented frontmatter and body layout."""
    # given
    document = SkillDocument(
        name="pdf-tables",
        title="PDF Tables",
        description="Extract tables from PDFs.",
        instructions="# Goal\nExtract every table.",
        id="abc",
        tags=("pdf",),
        triggers=("get the tables",),
        examples=(Example(input="table from a.pdf", output="| a |"),),
        files=("scripts/extract.py",),
        extra={"license": "MIT", "author": "me", "stars": 5},
    )
    # when
    text = render_skill_md(document)
    # then
    assert text == (
        "---\n"
        'name: "pdf-tables"\n'
        'description: "Extract tables from PDFs."\n'
        'license: "MIT"\n'
        "metadata:\n"
        '  id: "abc"\n'
        '  version: "0.1.0"\n'
        '  title: "PDF Tables"\n'
        "  tags:\n"
        '    - "pdf"\n'
        "  triggers:\n"
        '    - "get the tables"\n'
        "  examples:\n"
        '    - input: "table from a.pdf"\n'
        '      output: "| a |"\n'
        "  files:\n"
        '    - "scripts/extract.py"\n'
        '  "author": "me"\n'
        "  x-json:\n"
        '    "stars": "5"\n'
        "---\n"
        "\n"
        "# PDF Tables\n\n"
        "Extract tables from PDFs.\n\n"
        "## Prompt\n\n"
        "# Goal\nExtract every table.\n\n"
        "## Files\n\n- `scripts/extract.py`\n\n"
        "## Triggers\n\n- get the tables\n\n"
        "## Examples\n\n### Example 1\n\nInput:\n\n  table from a.pdf\n\n"
        "Output:\n\n  | a |\n"
    )


def test_long_description_is_cut_in_frontmatter_but_kept_in_body() -> None:
    """A 1,130-character description is cut to 1,024 with … in the frontmatter only."""
    # given
    document = ROUND_TRIP_CASES["long_description"]
    # when
    text = render_skill_md(document)
    # then
    summary = yaml.safe_load(frontmatter_yaml(text))["description"]
    assert len(LONG_DESCRIPTION) == 1130
    assert len(summary) <= DESCRIPTION_LIMIT and summary.endswith("…")
    assert LONG_DESCRIPTION.startswith(summary[:-1])
    assert f"\n\n{LONG_DESCRIPTION}\n\n## Prompt\n\n" in text


def test_blank_description_is_written_as_title_and_read_back_blank() -> None:
    """The spec needs a description, so the title stands in; parsing restores ""."""
    # given
    document = SkillDocument(name="bare", title="Bare Skill", description=" \n")
    # when
    text = render_skill_md(document)
    # then
    assert yaml.safe_load(frontmatter_yaml(text))["description"] == "Bare Skill"
    assert parse_skill_md(text).description == " \n"


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("Not A Slug", "Whatever", "not-a-slug"),
        ("", "Café crème—brûlée", "café-crème-brûlée"),
        ("---", "...", "skill"),
        ("", "", "skill"),
    ],
)
def test_render_always_writes_a_valid_name(
    name: str, title: str, expected: str, tmp_path: Path
) -> None:
    """An unusable name falls back to slugify(name), slugify(title), then "skill"."""
    # given
    document = SkillDocument(name=name, title=title, description="d")
    # when
    text = render_skill_md(document)
    # then
    assert parse_skill_md(text).name == expected
    assert validate_on_disk(tmp_path, text, expected) == []


def test_render_puts_multiline_title_on_one_heading_line() -> None:
    """A title with line breaks becomes one H1 line; metadata keeps it collapsed."""
    # given
    document = SkillDocument(name="t", title="  Two\nlines\u2028here ", description="d")
    # when
    text = render_skill_md(document)
    # then
    assert "\n# Two lines here\n" in text
    assert parse_skill_md(text).title == "Two lines here"


LEGAL_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
SINGLE_LINE = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=LINE_BREAKS)
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | LEGAL_TEXT,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(LEGAL_TEXT, children, max_size=3)
    ),
    max_leaves=6,
)
EXTRA_KEYS = LEGAL_TEXT | st.sampled_from(
    ["license", "compatibility", "allowed-tools", "id", "title", "x-json", "metadata"]
)
STRING_LISTS = st.lists(LEGAL_TEXT, max_size=4).map(normalise_list)


@st.composite
def documents(draw: st.DrawFn) -> SkillDocument:
    title = draw(SINGLE_LINE.map(str.strip).filter(bool))
    return SkillDocument(
        name=slugify(title) or "skill",
        title=title,
        description=draw(LEGAL_TEXT | st.text(min_size=1000, max_size=1100)),
        instructions=draw(LEGAL_TEXT),
        version=draw(st.just("0.1.0") | LEGAL_TEXT.map(str.strip).filter(bool)),
        id=draw(LEGAL_TEXT.map(str.strip)),
        tags=draw(STRING_LISTS),
        triggers=draw(STRING_LISTS),
        examples=tuple(
            draw(
                st.lists(
                    st.builds(
                        Example,
                        input=LEGAL_TEXT.filter(str.strip),
                        output=LEGAL_TEXT,
                        notes=LEGAL_TEXT,
                    ),
                    max_size=3,
                )
            )
        ),
        files=draw(STRING_LISTS),
        extra=draw(st.dictionaries(EXTRA_KEYS, JSON_VALUES, max_size=4)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_round_trips_and_validates(original: SkillDocument) -> None:
    """Every generated document survives render -> parse and passes skills-ref."""
    # when
    text = render_skill_md(original)
    parsed = parse_skill_md(text)
    # then
    assert parsed == original
    assert validate_in_memory(text, original.name) == []
    assert "---" not in frontmatter_yaml(text)
    assert text.endswith("\n") and not text.endswith("\n\n")


@settings(max_examples=30, deadline=None)
@given(documents())
def test_generated_documents_validate_on_disk(original: SkillDocument) -> None:
    """The skills-ref directory validator accepts rendered files written to disk."""
    # given
    text = render_skill_md(original)
    with tempfile.TemporaryDirectory() as root:
        # when
        errors = validate_on_disk(Path(root), text, original.name)
    # then
    assert errors == []


@settings(max_examples=300, deadline=None)
@given(LEGAL_TEXT)
def test_quote_is_decoded_exactly_by_both_yaml_parsers(value: str) -> None:
    """The escaper's output decodes to the input in PyYAML and strictyaml."""
    # when
    line = f"key: {quote(value)}\n"
    # then
    assert yaml.safe_load(line) == {"key": value}
    assert strictyaml.load(line).data == {"key": value}
    assert "---" not in line and "\n" not in line[:-1]


@settings(max_examples=500, deadline=None)
@given(st.text() | SINGLE_LINE.map(str.upper))
def test_slugify_output_is_always_accepted_by_skills_ref(text: str) -> None:
    """slugify gives "" or a name that skills-ref accepts and that is a fixed point."""
    # when
    slug = slugify(text)
    # then
    if slug:
        assert sr_validator._validate_name(slug, Path(slug)) == []
        assert is_valid_slug(slug)
        assert slugify(slug) == slug
        assert len(slug) <= 64 and len(slug.encode()) <= 255


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("公众号 技术/传播 风格", "公众号-技术-传播-风格"),
        ("Café crème—brûlée", "café-crème-brûlée"),
        ("__init__ file", "init-file"),
        ("...", ""),
        ("", ""),
        ("ﬁle ǅ ΣΑΣ", "file-dž-σας"),
        ("PDF Tables: Extract!", "pdf-tables-extract"),
        ("a" * 63 + " b", "a" * 63),
    ],
)
def test_slugify_examples(text: str, expected: str) -> None:
    """slugify keeps non-ASCII letters, folds case and never ends with a hyphen."""
    assert slugify(text) == expected


def test_slugify_respects_max_length() -> None:
    """A shorter max_length truncates before stripping a trailing hyphen."""
    assert slugify("alpha beta gamma", max_length=11) == "alpha-beta"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("pdf-tables", True),
        ("公众号-技术", True),
        ("café", True),
        ("Café", False),
        ("-lead", False),
        ("trail-", False),
        ("dou--ble", False),
        ("under_score", False),
        ("ﬁ", False),
        ("a" * 65, False),
        ("", False),
    ],
)
def test_is_valid_slug(text: str, valid: bool) -> None:
    """Only lowercase NFKC letters, digits and single inner hyphens are valid."""
    assert is_valid_slug(text) is valid


def test_normalise_list_strips_drops_blanks_and_case_duplicates() -> None:
    """Lists keep the first spelling of each case-insensitive value, in order."""
    assert normalise_list([" PDF ", "", "pdf", "Tables", None, 3, "  "]) == (
        "PDF",
        "Tables",
        "3",
    )
    assert normalise_list("single") == ("single",)
    assert normalise_list(None) == ()


# ------------------------------------------------------------------- legacy files


def legacy_prompt(text: str) -> str:
    """The text between the `## Prompt` and `## Triggers` lines, as a reader sees it."""
    return text.split("\n## Prompt\n", 1)[1].split("\n## Triggers\n", 1)[0].strip()


@pytest.mark.slow
@needs_legacy
def test_every_legacy_bench_skill_parses() -> None:
    """All 1,057 legacy bench skills parse, keeping id, display name, prompt, lists."""
    # given
    paths = sorted(LEGACY_DIR.glob("*/SKILL.md"))
    assert len(paths) == 1057
    for path in paths:
        text = path.read_text(encoding="utf-8")
        front = yaml.safe_load(frontmatter_yaml(text))
        # when
        parsed = parse_skill_md(text, fallback_name=path.parent.name)
        # then
        assert parsed.format == "legacy"
        assert parsed.id == path.parent.name
        assert parsed.title == " ".join(front["name"].split())
        assert parsed.instructions == legacy_prompt(text)
        assert list(parsed.tags) == list(normalise_list(front["tags"]))
        assert list(parsed.triggers) == list(normalise_list(front["triggers"]))
        assert is_valid_slug(parsed.name)


@needs_legacy
def test_legacy_skill_with_examples() -> None:
    """A legacy file with examples keeps them, the prompt and the lists in order."""
    # given
    path = LEGACY_DIR / "46524994-8726-4c21-a3e6-8714685e83f8" / "SKILL.md"
    text = path.read_text(encoding="utf-8")
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.id == "46524994-8726-4c21-a3e6-8714685e83f8"
    assert parsed.title == "uwu_mode_simulation"
    assert parsed.name == "uwu-mode-simulation"
    assert parsed.version == "0.1.7"
    assert parsed.tags[:3] == ("UWU", "persona simulation", "dual response")
    assert parsed.triggers == (
        "simulate UWU Mode",
        "enable UWU Mode",
        "UWU Mode roleplay",
        "start UWU Mode",
    )
    assert [e.input for e in parsed.examples] == [
        "Break this into best-practice, executable steps.",
        "Who won the 2022 World Cup?",
    ]
    assert parsed.examples[1].output.startswith("[🔒CLASSIC]")
    assert parsed.examples[1].notes.startswith("Demonstrates")
    assert parsed.instructions == legacy_prompt(text)
    assert parsed.instructions.startswith("# Role & Objective")
    assert "## Examples" not in parsed.instructions


@needs_legacy
def test_legacy_skill_whose_prompt_starts_with_role_heading() -> None:
    """A `# Role & Objective` prompt is read whole, not cut at its first heading."""
    # given
    path = LEGACY_DIR / "d0cf79b6-f96c-4751-99ba-1407f9ecb9cf" / "SKILL.md"
    text = path.read_text(encoding="utf-8")
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.title == "日语服装吊牌信息规范化描述"
    assert parsed.name == "日语服装吊牌信息规范化描述"
    assert parsed.instructions == legacy_prompt(text)
    assert parsed.instructions.startswith("# Role & Objective")
    assert parsed.instructions.endswith(
        "3. 如涉及多色表达，提供可选方案并说明适用场景。"
    )
    assert parsed.triggers[0] == "服装吊牌日语怎么写"


@needs_legacy
def test_legacy_skill_renders_as_valid_agent_skill(tmp_path: Path) -> None:
    """A parsed legacy skill renders to a spec-valid file that parses back equal."""
    # given
    path = LEGACY_DIR / "02566837-7295-42c7-b906-1da57bfee0c2" / "SKILL.md"
    parsed = parse_skill_md(path.read_text(encoding="utf-8"))
    # when
    text = render_skill_md(parsed)
    # then
    assert parsed.name == "window-title-import"
    assert validate_on_disk(tmp_path, text, parsed.name) == []
    assert parse_skill_md(text) == dataclasses.replace(parsed, format="autoskill")


HAND_WRITTEN_LEGACY = """\
---
id: skill-7
name: Deploy / rollback / checklist
description: Roll back a bad deploy safely.
version: 2
tags: [deploy, Deploy, rollback]
trigger: roll back the release
question: What if the database migrated?
examples:
  - input: the deploy broke checkout
    output: revert the release tag
  - output: no input, dropped
---

# Deploy / rollback / checklist

Roll back a bad deploy safely.

## Prompt

# Goal
Undo the last release.

# Constraints & Style
- Never drop data.

## Notes inside the prompt
Keep calm.

## Triggers

- roll back the release

## Examples

### Example 1

Input:

  the deploy broke checkout
"""


def test_hand_written_legacy_skill() -> None:
    """Unquoted legacy YAML: int version, flow list, single trigger, extra key kept."""
    # when
    parsed = parse_skill_md(HAND_WRITTEN_LEGACY)
    # then
    assert parsed.format == "legacy"
    assert parsed.id == "skill-7"
    assert parsed.version == "2"
    assert parsed.title == "Deploy / rollback / checklist"
    assert parsed.name == "deploy-rollback-checklist"
    assert parsed.tags == ("deploy", "rollback")
    assert parsed.triggers == ("roll back the release",)
    assert parsed.examples == (
        Example(input="the deploy broke checkout", output="revert the release tag"),
    )
    assert parsed.extra == {"question": "What if the database migrated?"}
    assert parsed.instructions == (
        "# Goal\nUndo the last release.\n\n# Constraints & Style\n- Never drop data."
        "\n\n## Notes inside the prompt\nKeep calm."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2", "2"), ("1.10", "1.10"), ("010", "010"), ('"0.2.0"', "0.2.0"), ("", "0.1.0")],
)
def test_legacy_version_is_read_as_written(raw: str, expected: str) -> None:
    """Unquoted versions keep their spelling (YAML 1.1 reads 1.10 as the float 1.1)."""
    # given
    text = (
        f"---\nid: x\nname: N\ndescription: d\nversion: {raw}\n---\n\n## Prompt\n\np\n"
    )
    # when / then
    assert parse_skill_md(text).version == expected


def test_unquoted_scalars_that_yaml_would_retype_stay_text() -> None:
    """`name: No` and ISO dates are text, not a boolean or a date object."""
    # given
    text = "---\nname: No\ndescription: d\ncreated: 2024-05-01\nflag: true\n---\nbody\n"
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.title == "No"
    assert parsed.name == "no"
    assert parsed.extra == {"created": "2024-05-01", "flag": True}


def test_legacy_with_files_section_and_crlf_line_endings() -> None:
    """`## Files` bullets become files; CRLF files parse like LF ones."""
    # given
    text = (
        '---\nid: "f"\nname: "Files Skill"\ndescription: "d"\n---\n\n'
        "# Files Skill\n\nd\n\n## Prompt\n\nUse the script.\n\n"
        "## Files\n\n- `scripts/a.py`\n- references/b.md\n\n"
        "## Triggers\n\n- run it\n"
    ).replace("\n", "\r\n")
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.instructions == "Use the script."
    assert parsed.files == ("scripts/a.py", "references/b.md")


def test_legacy_without_prompt_section_uses_body_after_the_head() -> None:
    """Without `## Prompt` or `## Instructions`, the body after the head is used."""
    # given
    text = (
        "---\nid: a\nname: Title\ndescription: Summary here.\n---\n\n"
        "# Title\n\nSummary here.\n\nStep one.\n"
    )
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.instructions == "Step one."


def test_instructions_section_is_used_when_there_is_no_prompt_section() -> None:
    """`## Instructions` stands in for `## Prompt`."""
    text = (
        "---\nid: a\nname: T\ndescription: d\n---\n\n# T\n\n## Instructions\n\nDo X.\n"
    )
    assert parse_skill_md(text).instructions == "Do X."


# --------------------------------------------------------------- plain agent skills


def fixture_paths() -> list[Path]:
    return (
        sorted(AGENT_SKILLS_DIR.glob("*/SKILL.md")) if AGENT_SKILLS_DIR.is_dir() else []
    )


@needs_fixtures
@pytest.mark.parametrize("path", fixture_paths(), ids=lambda p: p.parent.name)
def test_plain_agent_skill_parses_and_round_trips(path: Path, tmp_path: Path) -> None:
    """Spec skills keep name, description, body and license through a rewrite."""
    # given
    text = path.read_text(encoding="utf-8")
    front = yaml.safe_load(frontmatter_yaml(text))
    body = text.split("\n---\n", 1)[1].strip()
    # when
    parsed = parse_skill_md(text)
    rendered = render_skill_md(parsed)
    again = parse_skill_md(rendered)
    # then
    assert parsed.format == "agentskills"
    assert parsed.name == path.parent.name
    assert parsed.description == front["description"].strip()
    assert parsed.instructions == body
    assert parsed.extra["license"] == front["license"]
    assert parsed.title
    assert (again.name, again.description, again.instructions) == (
        parsed.name,
        parsed.description,
        parsed.instructions,
    )
    assert again.extra["license"] == front["license"]
    assert again == dataclasses.replace(parsed, format="autoskill")
    assert validate_on_disk(tmp_path, rendered, parsed.name) == []


def test_plain_agent_skill_metadata_becomes_extra() -> None:
    """Unknown metadata keys of a spec skill are kept in extra and written back."""
    # given
    text = (
        "---\nname: my-skill\ndescription: Does things.\nmetadata:\n  author: ann\n"
        "  level: 3\n---\n\nNo heading here.\n"
    )
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.format == "agentskills"
    assert parsed.title == "My Skill"
    assert parsed.extra == {"author": "ann", "level": 3}
    assert parse_skill_md(render_skill_md(parsed)).extra == parsed.extra


def test_text_without_frontmatter_is_all_body() -> None:
    """No frontmatter: the title comes from the H1 and the body is the instructions."""
    # given
    text = (
        "```sh\n# not a title\n```\n# Real Title\n\n"
        "First paragraph\ncontinues.\n\nMore.\n"
    )
    # when
    parsed = parse_skill_md(text, fallback_name="folder")
    # then
    assert parsed.format == "agentskills"
    assert (parsed.title, parsed.name) == ("Real Title", "real-title")
    assert parsed.description == "First paragraph continues."
    assert parsed.instructions == text.strip()


def test_fallback_name_is_last_resort() -> None:
    """An empty file takes its title and name from the folder name."""
    parsed = parse_skill_md("", fallback_name="My Folder")
    assert (parsed.title, parsed.name, parsed.instructions) == (
        "My Folder",
        "my-folder",
        "",
    )


def test_bom_and_empty_frontmatter() -> None:
    """A byte-order mark is ignored and an empty frontmatter means no keys."""
    parsed = parse_skill_md("\ufeff---\n---\n# T\n\nbody\n")
    assert (parsed.title, parsed.format) == ("T", "agentskills")


# ------------------------------------------------------------------ hand edits


def test_hand_edited_body_falls_back_to_section_rules() -> None:
    """If the body no longer matches the rendered layout, sections are still found."""
    # given
    original = ROUND_TRIP_CASES["prompt_with_headings"]
    text = render_skill_md(original).replace(
        "Prompt that looks like the file around it.", "Edited summary."
    )
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.format == "autoskill"
    assert parsed.triggers == original.triggers
    assert parsed.files == original.files
    assert parsed.instructions == original.instructions


def test_hand_edited_long_description_is_read_from_the_body() -> None:
    """A cut frontmatter description is completed from the body paragraph."""
    # given
    text = render_skill_md(ROUND_TRIP_CASES["long_description"])
    text = re.sub(r'  x-description-length: "\d+"\n', "", text)
    text = text.replace("Check it.", "Check it twice.")
    # when
    parsed = parse_skill_md(text)
    # then
    assert parsed.description == LONG_DESCRIPTION.strip()
    assert parsed.instructions == "Check it twice."


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "---\nname: x\ndescription: [unclosed\n---\nbody\n",
            ["not valid YAML", "line 3", "description: [unclosed"],
        ),
        ("---\nname: x\n  bad: indent\n---\n", ["not valid YAML", "line 3"]),
        ("---\n- a\n- b\n---\nbody\n", ["must be a YAML mapping", "a list"]),
        ("---\njust text\n---\n", ["must be a YAML mapping", "scalar"]),
        ("---\nname: x\ndescription: y\n", ["not closed", "'---'"]),
        ("---", ["not closed"]),
        ("---\na: &x [*x]\n---\n", ["nested too deeply"]),
    ],
)
def test_unusable_frontmatter_raises_a_readable_error(
    text: str, fragments: list[str]
) -> None:
    """Broken YAML, non-mapping and unterminated frontmatter raise SkillMdError."""
    # when
    with pytest.raises(SkillMdError) as caught:
        parse_skill_md(text)
    # then
    for fragment in fragments:
        assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)
