"""List (pagination, filters), get and delete: /v1/autoskill/skills[/<id>]."""

from __future__ import annotations

import uuid

import pytest

from skills.models import Skill, SkillStatus, SkillVersion
from skills.services import skill_archive
from tests.factories import make_skill
from tests.proxy.api import skills_helpers as helpers
from tests.proxy.api.skills_helpers import error_of

pytestmark = pytest.mark.django_db
api, bob_api = helpers.api, helpers.bob_api


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


def test_list_pages_through_every_skill_once_newest_first(api, user):
    skills = [make_skill(owner=user) for _ in range(5)]
    newest_first = [str(s.pk) for s in reversed(skills)]

    first = api.get(data={"limit": 2})
    body = first.json()
    assert first.status_code == 200
    assert (body["object"], body["has_more"]) == ("list", True)
    assert ids(first) == newest_first[:2]

    second = api.get(data={"limit": 2, "cursor": body["next_cursor"]})
    third = api.get(data={"limit": 2, "cursor": second.json()["next_cursor"]})

    assert ids(second) == newest_first[2:4]
    assert ids(third) == newest_first[4:]
    assert third.json()["has_more"] is False
    assert third.json()["next_cursor"] is None


def test_a_cursor_stays_valid_when_rows_are_added_before_it(api, user):
    older = [make_skill(owner=user) for _ in range(3)]
    page = api.get(data={"limit": 2}).json()

    make_skill(owner=user)  # newer than everything on the first page

    rest = api.get(data={"limit": 2, "cursor": page["next_cursor"]})
    assert ids(rest) == [str(older[0].pk)]


def test_list_summary_has_the_original_fields_and_more(api, user):
    skill = make_skill(owner=user, title="Release notes", tags=["writing"])

    item = api.get().json()["data"][0]

    assert item["id"] == str(skill.pk)
    assert item["object"] == "skill"
    assert item["name"] == skill.name
    assert (item["owner"], item["library"], item["source"]) == ("alice", None, "user")
    assert item["tags"] == ["writing"]
    assert item["version"] == "0.1.0" and item["version_number"] == 1
    assert item["read_only"] is False
    assert "instructions" not in item  # bodies only in the detail view


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["mine"]),
        ({"scope": "user"}, ["mine"]),
        ({"scope": "library"}, ["shared"]),
        ({"scope": "common"}, ["shared"]),
        ({"scope": "all"}, ["mine", "shared"]),
        ({"library": "team"}, ["shared"]),
        ({"library": "nope"}, []),
        ({"library": "team", "scope": "user"}, []),
        ({"library": "team", "scope": "all"}, ["shared"]),
    ],
)
def test_scope_and_library_filters(api, user, other_user, library, params, expected):
    make_skill(owner=user, title="mine")
    make_skill(library=library, title="shared")
    make_skill(owner=other_user, title="theirs")

    response = api.get(data=params)

    assert response.status_code == 200
    assert sorted(item["title"] for item in response.json()["data"]) == expected


def test_status_filter_hides_archived_skills_unless_asked(api, user):
    live = make_skill(owner=user, title="live")
    gone = make_skill(owner=user, title="gone")
    skill_archive(skill_id=gone.pk)

    assert ids(api.get()) == [str(live.pk)]
    assert ids(api.get(data={"status": "archived"})) == [str(gone.pk)]
    assert sorted(ids(api.get(data={"status": "any"}))) == sorted(
        [str(live.pk), str(gone.pk)]
    )
    assert ids(api.get(data={"status": "draft"})) == []


def test_tag_filter_matches_whole_tags_ignoring_case(api, user):
    tagged = make_skill(owner=user, tags=["Release", "writing"])
    make_skill(owner=user, tags=["releases"])

    assert ids(api.get(data={"tag": "release"})) == [str(tagged.pk)]
    assert ids(api.get(data={"tag": "RELEASE"})) == [str(tagged.pk)]
    assert ids(api.get(data={"tag": "eleas"})) == []


def test_text_filter_searches_name_title_and_description(api, user):
    hit = make_skill(
        owner=user, title="Postgres vacuum", description="Tune autovacuum."
    )
    make_skill(owner=user, title="Release notes")

    assert ids(api.get(data={"q": "vacuum"})) == [str(hit.pk)]
    assert ids(api.get(data={"q": "AUTOVACUUM"})) == [str(hit.pk)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        ({"cursor": "eyJvIjpbIm5hbWUiXSwidiI6WyJ4Il19"}, "cursor"),  # another order
        ({"scope": "everyone"}, "scope"),
        ({"status": "deleted"}, "status"),
    ],
)
def test_bad_list_parameters_are_400_envelopes(api, user, params, param):
    response = api.get(data=params)

    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_a_tampered_cursor_value_is_400(api, user):
    import base64
    import json

    raw = json.dumps({"o": ["-updated_at", "-pk"], "v": ["yesterday", "x"]})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    response = api.get(data={"cursor": cursor})

    assert response.status_code == 400
    assert error_of(response)["param"] == "cursor"


def test_get_returns_the_whole_skill_and_optionally_its_skill_md(api, user):
    skill = make_skill(owner=user, examples=[{"input": "v2.1", "output": "notes"}])

    plain = api.get(f"/{skill.pk}")
    with_md = api.get(f"/{skill.pk}", {"include_md": "1"})

    data = plain.json()["data"]
    assert plain.json()["object"] == "skill"
    assert data["instructions"] == skill.instructions
    assert data["examples"] == [{"input": "v2.1", "output": "notes"}]
    assert data["etag"] == plain["ETag"]
    assert "skill_md" not in data
    md = with_md.json()["data"]["skill_md"]
    assert md == SkillVersion.objects.get(skill=skill, number=1).skill_md
    assert f'name: "{skill.name}"' in md


def test_unknown_and_malformed_ids(api, user):
    unknown = api.get(f"/{uuid.uuid4()}")
    malformed = api.get("/not-a-uuid")

    assert unknown.status_code == 404
    assert error_of(unknown)["code"] == "not_found"
    assert malformed.status_code == 400
    assert "not a skill id" in error_of(malformed)["message"]


def test_delete_removes_the_skill_and_its_history(api, user):
    skill = make_skill(owner=user)

    response = api.delete(f"/{skill.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(skill.pk),
        "object": "skill.deleted",
        "deleted": True,
        "skill_id": str(skill.pk),
        "ok": True,
    }
    assert not Skill.objects.filter(pk=skill.pk).exists()
    assert not SkillVersion.objects.filter(skill_id=skill.pk).exists()
    assert api.get(f"/{skill.pk}").status_code == 404


def test_delete_honours_if_match(api, user):
    skill = make_skill(owner=user)

    malformed = api.delete(f"/{skill.pk}", HTTP_IF_MATCH="yesterday")
    assert malformed.status_code == 400
    assert "not an ETag" in error_of(malformed)["message"]
    stale = api.delete(f"/{skill.pk}", HTTP_IF_MATCH='"v0-abc123"')
    assert stale.status_code == 412
    assert error_of(stale)["code"] == "precondition_failed"
    assert Skill.objects.filter(pk=skill.pk).exists()

    etag = api.get(f"/{skill.pk}")["ETag"]
    assert api.delete(f"/{skill.pk}", HTTP_IF_MATCH=etag).status_code == 200


def test_wrong_method_is_a_405_envelope(api, user):
    skill = make_skill(owner=user)

    response = api.send_json("post", f"/{skill.pk}", {})
    on_import = api.get("/import")

    assert response.status_code == 405
    assert error_of(response)["type"] == "invalid_request_error"
    assert on_import.status_code == 405


def test_no_key_is_401_with_a_bearer_challenge(client, user):
    skill = make_skill(owner=user)

    response = client.get(f"/v1/autoskill/skills/{skill.pk}")

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_archived_skills_are_still_readable_by_id(api, user):
    skill = make_skill(owner=user)
    skill_archive(skill_id=skill.pk)

    response = api.get(f"/{skill.pk}")

    assert response.json()["data"]["status"] == SkillStatus.ARCHIVED


def test_ties_and_sub_millisecond_differences_never_lose_a_row(api, user):
    from datetime import UTC, datetime

    skills = [make_skill(owner=user) for _ in range(6)]
    base = datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC)
    # Two exact ties and three stamps inside one millisecond.
    stamps = [0, 0, 101, 102, 103, 2000]
    for skill, micro in zip(skills, stamps, strict=True):
        Skill.objects.filter(pk=skill.pk).update(
            updated_at=base.replace(microsecond=base.microsecond + micro)
        )

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = api.get(data=params).json()
        seen += [item["id"] for item in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break

    assert sorted(seen) == sorted(str(s.pk) for s in skills)
    assert len(seen) == len(set(seen)) == 6
