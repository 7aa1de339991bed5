"""GET and PUT /v1/autoskill/skills/<id>/md: SKILL.md, validation and concurrency."""

from __future__ import annotations

import pytest

from skills.models import Skill, SkillVersion, VersionOrigin
from tests.factories import make_skill
from tests.proxy.api import skills_helpers as helpers
from tests.proxy.api.skills_helpers import error_of

pytestmark = pytest.mark.django_db
api = helpers.api


def current_md(skill: Skill) -> str:
    skill.refresh_from_db()
    return SkillVersion.objects.get(skill=skill, number=skill.version_number).skill_md


def edited(md: str, old: str, new: str) -> str:
    assert old in md
    return md.replace(old, new)


def test_get_md_is_markdown_with_an_etag_by_default(api, user):
    skill = make_skill(owner=user)

    response = api.get(f"/{skill.pk}/md")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.content.decode() == current_md(skill)
    assert response["ETag"] == f'"v1-{skill.content_hash[:20]}"'


def test_get_md_as_json_keeps_the_original_shape(api, user):
    skill = make_skill(owner=user)

    response = api.get(f"/{skill.pk}/md", HTTP_ACCEPT="application/json")

    body = response.json()
    assert response["Content-Type"] == "application/json"
    assert body["object"] == "skill_md"
    assert (body["skill_id"], body["name"], body["version"]) == (
        str(skill.pk),
        skill.name,
        "0.1.0",
    )
    assert body["skill_md"] == current_md(skill)
    assert body["etag"] == response["ETag"]


def test_if_none_match_answers_304_until_the_skill_changes(api, user):
    skill = make_skill(owner=user)
    etag = api.get(f"/{skill.pk}/md")["ETag"]

    assert api.get(f"/{skill.pk}/md", HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert api.get(f"/{skill.pk}/md", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304

    md = api.get(f"/{skill.pk}/md").content.decode()
    api.put_md(skill.pk, edited(md, "No emojis.", "No emojis, ever."))

    again = api.get(f"/{skill.pk}/md", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200
    assert again["ETag"] != etag


def test_put_md_writes_a_new_manual_version_and_bumps_the_patch(api, user):
    skill = make_skill(owner=user, tags=["writing"])
    md = api.get(f"/{skill.pk}/md").content.decode()
    new_md = edited(md, "No emojis.", "No emojis; sign off with the team name.")

    response = api.put_md(skill.pk, new_md)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] is True
    assert body["data"]["version"] == "0.1.1"  # left as it was: bumped
    assert body["data"]["version_number"] == 2
    assert "sign off with the team name" in body["data"]["instructions"]
    assert body["data"]["skill_md"] == current_md(skill)
    assert response["ETag"] == body["data"]["etag"]
    version = SkillVersion.objects.get(skill=skill, number=2)
    assert version.origin == VersionOrigin.MANUAL
    assert version.author == user


def test_put_md_keeps_an_explicit_new_version_string(api, user):
    skill = make_skill(owner=user)
    md = api.get(f"/{skill.pk}/md").content.decode()
    new_md = edited(md, 'version: "0.1.0"', 'version: "2.0.0"')
    new_md = edited(new_md, "No emojis.", "Emojis are fine.")

    body = api.put_md(skill.pk, new_md).json()

    assert body["data"]["version"] == "2.0.0"


def test_putting_the_same_skill_md_back_changes_nothing(api, user):
    skill = make_skill(
        owner=user,
        examples=[{"input": "v1.2", "output": "notes", "notes": "short"}],
        metadata={"license": "MIT"},
    )
    md = api.get(f"/{skill.pk}/md").content.decode()

    response = api.put_md(skill.pk, md)

    assert response.status_code == 200
    assert response.json()["changed"] is False
    assert Skill.objects.get(pk=skill.pk).version_number == 1


def test_put_md_accepts_json_and_plain_text(api, user):
    skill = make_skill(owner=user)
    md = api.get(f"/{skill.pk}/md").content.decode()

    as_json = api.send_json(
        "put", f"/{skill.pk}/md", {"md": edited(md, "No emojis.", "JSON edit.")}
    )
    md2 = api.get(f"/{skill.pk}/md").content.decode()
    as_text = api.put_md(
        skill.pk, edited(md2, "JSON edit.", "Text edit."), content_type="text/plain"
    )

    assert as_json.status_code == 200 and as_text.status_code == 200
    assert "Text edit." in Skill.objects.get(pk=skill.pk).instructions


def test_a_hand_written_agent_skill_replaces_the_fields(api, user):
    skill = make_skill(owner=user, tags=["writing"])
    md = (
        "---\nname: changelog-writer\ndescription: Write changelogs the team way.\n"
        "---\n\n# Changelog writer\n\nGroup entries by type.\n"
    )

    body = api.put_md(skill.pk, md).json()["data"]

    assert body["name"] == "changelog-writer"
    assert body["description"] == "Write changelogs the team way."
    assert "Group entries by type." in body["instructions"]
    assert body["tags"] == []  # the file is the whole truth for the fields it states
    assert body["id"] == str(skill.pk)


def test_version_number_in_the_body_is_a_compare_and_set(api, user):
    skill = make_skill(owner=user)
    md = api.get(f"/{skill.pk}/md").content.decode()
    first = {"skill_md": edited(md, "No emojis.", "First writer."), "version_number": 1}
    second = {
        "skill_md": edited(md, "No emojis.", "Second writer."),
        "version_number": 1,
    }

    ok = api.send_json("put", f"/{skill.pk}/md", first)
    lost = api.send_json("put", f"/{skill.pk}/md", second)

    assert ok.status_code == 200
    assert lost.status_code == 409
    error = error_of(lost)
    assert error["code"] == "conflict"
    assert "#1" in error["message"] and "#2" in error["message"]
    assert "First writer." in Skill.objects.get(pk=skill.pk).instructions


def test_if_match_with_a_stale_etag_is_412_and_writes_nothing(api, user):
    skill = make_skill(owner=user)
    reply = api.get(f"/{skill.pk}/md")
    etag, md = reply["ETag"], reply.content.decode()
    assert (
        api.put_md(
            skill.pk, edited(md, "No emojis.", "One."), HTTP_IF_MATCH=etag
        ).status_code
        == 200
    )

    stale = api.put_md(skill.pk, edited(md, "No emojis.", "Two."), HTTP_IF_MATCH=etag)

    assert stale.status_code == 412
    assert error_of(stale)["code"] == "precondition_failed"
    assert Skill.objects.get(pk=skill.pk).version_number == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        ("", "text/markdown", 400, "empty"),
        ("just a body\n", "text/markdown", 400, "frontmatter"),
        ("---\nname: x\n---\n\nbody\n", "text/markdown", 400, "description"),
        ("---\nname: x\n", "text/markdown", 400, "SKILL.md"),
        ("---\n- a\n- b\n---\nbody\n", "text/markdown", 400, "mapping"),
        ("---\nname: x\ndescription: y\nmetadata:\n  id: 7\n---\n\nz\n", "text/markdown", 400, "names skill id"),
        ("{}", "application/json", 400, "skill_md"),
        ('{"skill_md": 5}', "application/json", 400, "skill_md"),
        ("{nope", "application/json", 400, "JSON"),
        ("<md/>", "application/xml", 415, "Unsupported media type"),
    ],
)  # fmt: skip
def test_bad_bodies_get_clear_errors(api, user, body, content_type, status, needle):
    skill = make_skill(owner=user)

    response = api.put_md(skill.pk, body, content_type=content_type)

    assert response.status_code == status, response.content
    assert needle in error_of(response)["message"]
    assert Skill.objects.get(pk=skill.pk).version_number == 1


def test_non_utf8_bodies_are_400(api, user):
    skill = make_skill(owner=user)

    response = api.client.put(
        f"/v1/autoskill/skills/{skill.pk}/md",
        b"---\nname: caf\xe9\n---\n",
        content_type="text/markdown",
        **api.auth,
    )

    assert response.status_code == 400
    assert "UTF-8" in error_of(response)["message"]


def test_an_oversized_skill_md_is_413(api, user, settings):
    settings.AUTOSKILL_MAX_FILE_BYTES = 2000
    skill = make_skill(owner=user)

    response = api.put_md(skill.pk, "x" * 2001)

    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


def test_a_description_clash_with_another_skill_is_409(api, user):
    make_skill(owner=user, title="Other", description="Summarise incidents for execs.")
    skill = make_skill(owner=user)
    md = "---\nname: clash\ndescription: Summarise incidents for execs.\n---\n\nBody.\n"

    response = api.put_md(skill.pk, md)

    assert response.status_code == 409
    assert "already exists" in error_of(response)["message"]


def test_errors_are_json_even_when_markdown_was_asked_for(api, user):
    import uuid

    response = api.get(f"/{uuid.uuid4()}/md", HTTP_ACCEPT="text/markdown")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"
