"""What the skill pages share: access checks as pages, the editor's SKILL.md check, diffs.

The check is the one saving applies (`skills.selectors.fields_from_skill_md`), plus
what a person needs to fix a problem: the file line it is on, and a name check that
says which name would be used instead of silently changing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from autoskill_site.exceptions import InvalidInput, NotFound
from proxy.api.skills_md import skill_md_limit
from skills.models import Skill
from skills.selectors import can_write, fields_from_skill_md, skill_for_read
from skills.services import TITLE_MAX
from skills.skillmd import SkillDocument, SkillMdError, render_skill_md, slugify
from skills.skillmd_yaml import load_frontmatter, scalar_text, split_frontmatter
from skills.validators import validate_skill_name

NEW_SKILL_MD = render_skill_md(
    SkillDocument(
        name="my-new-skill",
        title="My new skill",
        description="What this skill does and when to use it, in one or two sentences.",
        instructions="## Steps\n\n1. First step.\n2. Second step.",
        tags=("example",),
        triggers=("when the user asks for ...",),
    )
)
_LINE = re.compile(r"\bline (\d+)\b")


def skill_or_404(request: HttpRequest, skill_id: object) -> Skill:
    """The skill if the user may read it; another user's skill is a plain 404."""
    try:
        return skill_for_read(request.user, skill_id)
    except (NotFound, InvalidInput) as exc:
        raise Http404(exc.message) from None


def forbidden_page(
    request: HttpRequest, *, skill: Skill | None, message: str
) -> HttpResponse:
    """403 with the reason; used when a non-curator tries to change a library skill."""
    return render(
        request,
        "skills/forbidden.html",
        {"skill": skill, "message": message},
        status=403,
    )


def read_only_reason(user: Any, skill: Skill) -> str | None:
    """Why `user` may not change `skill`, or None when they may."""
    if can_write(user, skill):
        return None
    return (
        f"“{skill.name}” belongs to the library {skill.library.slug}; library skills "
        "are read-only (curators edit them)."
    )


def with_writable_skill(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Hand `view` the skill named by `skill_id` when the user may change it.

    Another user's skill is a 404; a library skill for a non-curator is a 403 page
    with the reason, and the view never runs.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, skill_id: object, *args: Any, **kwargs: Any):
        skill = skill_or_404(request, skill_id)
        reason = read_only_reason(request.user, skill)
        if reason:
            return forbidden_page(request, skill=skill, message=reason)
        return view(request, skill, *args, **kwargs)

    return wrapped


@dataclass(frozen=True)
class Problem:
    """One reason a SKILL.md cannot be saved; `line` is a 1-based file line or None."""

    line: int | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


@dataclass(frozen=True)
class SkillMdCheck:
    """The outcome of checking editor text: fields to save, or the problems."""

    fields: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    body: str = ""

    @property
    def ok(self) -> bool:
        return self.fields is not None and not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [problem.as_json() for problem in self.problems],
            "fields": preview_fields(self.fields) if self.fields else {},
            "body": self.body,
        }


def preview_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields the preview table shows (instructions are rendered, not listed)."""
    return {
        "name": fields["name"],
        "title": fields["title"],
        "description": fields["description"],
        "version": fields["version"],
        "tags": fields["tags"],
        "triggers": fields["triggers"],
        "examples": len(fields["examples"]),
        "metadata": sorted(fields["metadata"]),
    }


def skill_md_check(*, text: str, skill: Skill | None) -> SkillMdCheck:
    """Check editor text exactly as saving will; `skill` is None for a new skill."""
    text = text.replace("\r\n", "\n")
    body = _body_of(text)
    size, limit = len(text.encode("utf-8")), skill_md_limit()
    if size > limit:
        message = f"The SKILL.md is {size} bytes; the limit is {limit}."
        return SkillMdCheck(None, [Problem(None, message)], body)
    if not text.strip():
        return SkillMdCheck(None, [Problem(1, "The SKILL.md is empty.")], body)
    try:
        fields = fields_from_skill_md(text, skill=skill)
    except InvalidInput as exc:
        return SkillMdCheck(None, [_problem_of(exc.message, text)], body)
    problems = [*_name_problems(text), *_title_problems(fields, text)]
    return SkillMdCheck(None if problems else fields, problems, body)


def _body_of(text: str) -> str:
    try:
        _, body = split_frontmatter(text.removeprefix("\ufeff"))
    except SkillMdError:
        return ""
    return body


def _problem_of(message: str, text: str) -> Problem:
    message = message.removeprefix("SKILL.md: ")
    found = _LINE.search(message)
    if found:
        return Problem(int(found.group(1)), message)
    if "names skill id" in message:
        return Problem(_key_line(text, "id"), message)
    # Frontmatter that is missing, unclosed or has no description starts at line 1.
    return Problem(1, message)


def _frontmatter(text: str) -> dict[str, Any]:
    try:
        head, _ = split_frontmatter(text.removeprefix("\ufeff"))
        data = load_frontmatter(head, first_line=2) if head else None
    except SkillMdError:
        return {}
    return data if isinstance(data, dict) else {}


def _key_line(text: str, key: str) -> int | None:
    """The file line of the first `key:` inside the frontmatter, if there is one."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*:")
    for number, line in enumerate(text.split("\n")[1:], start=2):
        if line.strip() == "---":
            return None
        if pattern.match(line):
            return number
    return None


def _name_problems(text: str) -> list[Problem]:
    # The parser would quietly turn a bad name into a slug; the editor says so instead.
    raw = scalar_text(_frontmatter(text).get("name")).strip()
    if not raw:
        return []
    try:
        validate_skill_name(raw)
    except ValidationError as exc:
        hint = slugify(raw)
        message = " ".join(exc.messages)
        if hint:
            message += f" Did you mean “{hint}”?"
        return [Problem(_key_line(text, "name"), message)]
    return []


def _title_problems(fields: dict[str, Any], text: str) -> list[Problem]:
    title = " ".join(str(fields.get("title") or "").split())
    if len(title) <= TITLE_MAX:
        return []
    message = f"The title is {len(title)} characters; the limit is {TITLE_MAX}."
    return [Problem(_key_line(text, "title"), message)]
