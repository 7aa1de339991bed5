"""GET /skills/<id>/versions (SKILL.md + diffs) and POST /skills/<id>/rollback."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from skills.models import Skill, SkillVersion, VersionOrigin
from skills.services import skill_update
from tests.factories import make_skill
from tests.proxy.api import skills_helpers as helpers
from tests.proxy.api.skills_helpers import error_of

pytestmark = pytest.mark.django_db
api = helpers.api


def three_versions(user) -> Skill:
    skill = make_skill(owner=user, instructions="Step one.")
    skill_update(skill_id=skill.pk, instructions="Step one.\nStep two.")
    skill_update(skill_id=skill.pk, instructions="Step one.\nStep three.")
    return Skill.objects.get(pk=skill.pk)


def test_versions_are_listed_newest_first_with_md_and_diffs(api, user):
    skill = three_versions(user)

    response = api.get(f"/{skill.pk}/versions")

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["has_more"] is False
    numbers = [v["number"] for v in body["data"]]
    assert numbers == [3, 2, 1]
    latest, middle, first = body["data"]
    assert [v["is_current"] for v in body["data"]] == [True, False, False]
    assert (
        latest["skill_md"] == SkillVersion.objects.get(skill=skill, number=3).skill_md
    )
    assert "-Step two.\n" in latest["diff"] and "+Step three.\n" in latest["diff"]
    assert latest["diff"].startswith("--- #2/SKILL.md\n+++ #3/SKILL.md\n")
    assert "+Step two.\n" in middle["diff"]
    # Version 1 is diffed against nothing: every line is an addition.
    assert first["diff"].startswith("--- #0/SKILL.md\n+++ #1/SKILL.md\n")
    assert all(
        line.startswith(("+", "@", "---"))
        for line in first["diff"].splitlines()
        if line
    )
    assert first["origin"] == VersionOrigin.MANUAL
    assert first["owner"] == "user:alice"


def test_versions_paginate_and_diff_across_page_boundaries(api, user):
    skill = three_versions(user)

    page = api.get(f"/{skill.pk}/versions", {"limit": 1}).json()
    second = api.get(
        f"/{skill.pk}/versions", {"limit": 1, "cursor": page["next_cursor"]}
    ).json()

    assert [v["number"] for v in page["data"]] == [3]
    assert [v["number"] for v in second["data"]] == [2]
    # The diff of #2 needs #1, which is on no page fetched so far.
    assert "+Step two.\n" in second["data"][0]["diff"]


def test_versions_cost_a_fixed_number_of_queries(api, user):
    skill = three_versions(user)
    for n in range(10):
        skill_update(skill_id=skill.pk, instructions=f"Step {n}.")

    api.get(f"/{skill.pk}/versions")  # the key's last_used_at is written once
    with CaptureQueriesContext(connection) as few:
        api.get(f"/{skill.pk}/versions", {"limit": 2})
    with CaptureQueriesContext(connection) as many:
        api.get(f"/{skill.pk}/versions", {"limit": 12})

    assert len(many) == len(few)


def test_rollback_restores_any_version_as_a_new_one(api, user):
    skill = three_versions(user)

    response = api.send_json("post", f"/{skill.pk}/rollback", {"to_number": 1})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changed"] is True
    assert body["restored_from"] == {"number": 1, "version": "0.1.0"}
    assert body["data"]["version_number"] == 4
    assert body["data"]["instructions"] == "Step one."
    newest = SkillVersion.objects.get(skill=skill, number=4)
    assert newest.origin == VersionOrigin.ROLLBACK
    assert newest.author == user
    # Nothing is lost: the rolled-back-over versions are all still there.
    assert SkillVersion.objects.filter(skill=skill).count() == 4
    versions = api.get(f"/{skill.pk}/versions").json()["data"]
    assert "-Step three.\n" in versions[0]["diff"]


def test_rollback_to_the_current_content_writes_nothing(api, user):
    skill = three_versions(user)

    body = api.send_json("post", f"/{skill.pk}/rollback", {"to_number": 3}).json()

    assert body["changed"] is False
    assert Skill.objects.get(pk=skill.pk).version_number == 3


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"to_number": 9}, 404, "not_found"),
        ({"to_number": 0}, 400, "invalid_value"),
        ({}, 400, "invalid_value"),
        ({"to_number": "one"}, 400, "invalid_value"),
        ({"to_number": 1, "version_number": 2}, 409, "conflict"),
    ],
)
def test_rollback_errors(api, user, payload, status, code):
    skill = three_versions(user)

    response = api.send_json("post", f"/{skill.pk}/rollback", payload)

    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert Skill.objects.get(pk=skill.pk).version_number == 3


def test_rollback_with_a_stale_if_match_is_412(api, user):
    skill = three_versions(user)

    response = api.send_json(
        "post", f"/{skill.pk}/rollback", {"to_number": 1}, HTTP_IF_MATCH='"v2-abc"'
    )

    assert response.status_code == 412
    assert Skill.objects.get(pk=skill.pk).version_number == 3


def test_rollback_wants_json(api, user):
    skill = three_versions(user)

    response = api.client.post(
        f"/v1/autoskill/skills/{skill.pk}/rollback",
        "to_number=1",
        content_type="application/x-www-form-urlencoded",
        **api.auth,
    )

    assert response.status_code == 415
    assert error_of(response)["type"] == "invalid_request_error"
