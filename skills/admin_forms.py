"""The admin's skill forms: a SKILL.md edited as text, saved through the skill services.

The service call happens in `clean()`. That is deliberate: the admin only shows
errors on the form while it validates, and the service is the validation (identity
conflicts, title limits, concurrent edits), so a rejected save comes back as a form
error with the curator's text kept, instead of a 500 or a false "changed" message.
The admin wraps the whole request in a transaction, so a later failure still rolls
the version back.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from autoskill_site.exceptions import ApplicationError, Conflict, InvalidInput
from skills.models import Library, Skill, SkillStatus, VersionOrigin
from skills.selectors import current_skill_md, fields_from_skill_md
from skills.services import (
    ConcurrentModification,
    skill_create,
    skill_update,
)
from skills.skillmd import SkillDocument, SkillMdError, render_skill_md, slugify
from skills.skillmd_yaml import load_frontmatter, scalar_text, split_frontmatter
from skills.validators import validate_skill_name

NEW_SKILL_MD = render_skill_md(
    SkillDocument(
        name="new-skill",
        title="New skill",
        description="What this skill does and when to use it, in one or two sentences.",
        instructions="## Steps\n\n1. First step.\n2. Second step.",
    )
)
RACE_MESSAGE = (
    "Another change to this skill was saved at the same moment; reload the page and "
    "apply your edit again."
)


def skill_md_field(**kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label="SKILL.md",
        strip=False,
        widget=forms.Textarea(
            attrs={
                "rows": 26,
                "class": "vLargeTextField skill-md-input",
                "spellcheck": "false",
                "data-skill-md-input": "",
            }
        ),
        help_text=(
            "The whole skill as one file: YAML frontmatter (name, description, "
            "version, metadata) and the Markdown instructions. Saving writes a new "
            "version; an unchanged version string gets its patch number bumped."
        ),
        **kwargs,
    )


def reason_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Recorded on the new version (why the change was made).",
    )


def status_field() -> forms.ChoiceField:
    return forms.ChoiceField(label="Status", choices=SkillStatus.choices)


def parse_skill_md(text: str, *, skill: Skill | None) -> dict[str, Any]:
    """The fields of a submitted SKILL.md, or a ValidationError on the text box."""
    size, limit = len(text.encode("utf-8")), settings.AUTOSKILL_MAX_FILE_BYTES
    if size > limit:
        raise ValidationError(
            {"skill_md": f"The SKILL.md is {size} bytes; the limit is {limit}."}
        )
    try:
        fields = fields_from_skill_md(text, skill=skill)
    except InvalidInput as exc:
        raise ValidationError({"skill_md": exc.message}) from None
    name_problem = _name_problem(text)
    if name_problem:
        raise ValidationError({"skill_md": name_problem})
    return fields


def _name_problem(text: str) -> str | None:
    # The parser would quietly turn a bad name into a slug; the curator is told instead.
    try:
        head, _ = split_frontmatter(text.removeprefix("\ufeff"))
        data = load_frontmatter(head, first_line=2) if head else None
    except SkillMdError:
        return None
    raw = scalar_text(data.get("name")).strip() if isinstance(data, dict) else ""
    if not raw:
        return None
    try:
        validate_skill_name(raw)
    except ValidationError as exc:
        hint = slugify(raw)
        message = f"name: {' '.join(exc.messages)}"
        return message + (f" Did you mean “{hint}”?" if hint else "")
    return None


def service_error(exc: Exception) -> ValidationError:
    if isinstance(exc, ApplicationError):
        return ValidationError(exc.message)
    return ValidationError(RACE_MESSAGE)


class SkillChangeForm(forms.ModelForm):
    """Edit an existing skill's SKILL.md (and status) as one new version."""

    skill_md = skill_md_field()
    new_status = status_field()
    reason = reason_field()
    # The version the form was opened at: the save is a compare-and-set on it, so
    # an edit made meanwhile elsewhere is never overwritten.
    version_number = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    author: Any = None  # set per request by SkillAdmin.get_form

    class Meta:
        model = Skill
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: Skill | None = None
        if self.instance.pk and not self.is_bound:
            self.initial.update(
                skill_md=current_skill_md(self.instance),
                new_status=self.instance.status,
                version_number=self.instance.version_number,
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if any(k not in data for k in ("skill_md", "new_status", "version_number")):
            return data
        skill = self.instance
        fields = parse_skill_md(data["skill_md"].replace("\r\n", "\n"), skill=skill)
        before = fields_from_skill_md(current_skill_md(skill), skill=skill)
        try:
            self.saved = skill_update(
                skill_id=skill.pk,
                author=self.author,
                origin=VersionOrigin.MANUAL,
                reason=data.get("reason") or "Edited in the admin",
                expected_version_number=data["version_number"],
                # A changed skill whose version string was kept is still a new
                # release (as in the API's PUT .../md); a status change alone is not.
                bump=fields != before and fields["version"] == skill.version,
                status=data["new_status"],
                **fields,
            )
        except Conflict as exc:
            if "current_version_number" in exc.extra:
                raise ValidationError(
                    f"{exc.message} Your text is kept below; copy it, reload the page "
                    "and apply it again."
                ) from None
            raise service_error(exc) from None
        except (ApplicationError, ConcurrentModification, IntegrityError) as exc:
            raise service_error(exc) from None
        return data


class SkillAddForm(forms.ModelForm):
    """A new skill from a SKILL.md, for a user (by username) or a library."""

    owner_username = forms.CharField(
        label="Owner (username)",
        required=False,
        max_length=150,
        help_text="The user the skill belongs to; leave empty for a library skill.",
    )
    target_library = forms.ModelChoiceField(
        label="Library",
        queryset=Library.objects.all(),
        required=False,
        help_text="The library the skill belongs to; leave empty for a user's skill.",
    )
    skill_md = skill_md_field(initial=NEW_SKILL_MD)
    new_status = status_field()
    reason = reason_field()

    author: Any = None  # set per request by SkillAdmin.get_form

    class Meta:
        model = Skill
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saved: Skill | None = None
        self.requested_name = ""

    def clean_owner_username(self) -> Any:
        username = self.cleaned_data["owner_username"].strip()
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError(f"There is no user named “{username}”.")
        return user

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if any(
            k not in data
            for k in ("skill_md", "new_status", "owner_username", "target_library")
        ):
            return data
        owner, library = data["owner_username"], data["target_library"]
        if (owner is None) == (library is None):
            raise ValidationError(
                "Choose exactly one home for the skill: an owner or a library."
            )
        fields = parse_skill_md(data["skill_md"].replace("\r\n", "\n"), skill=None)
        self.requested_name = fields["name"]
        try:
            self.saved = skill_create(
                owner=owner,
                library=library,
                status=data["new_status"],
                origin=VersionOrigin.MANUAL,
                author=self.author,
                reason=data.get("reason") or "Created in the admin",
                **fields,
            )
        except (ApplicationError, ConcurrentModification, IntegrityError) as exc:
            raise service_error(exc) from None
        return data
