"""Owner checks on every skill endpoint: other users' skills, libraries, sessions."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from accounts.models import User
from proxy.auth import api_key_create
from skills.models import Skill
from tests.factories import make_skill
from tests.proxy.api import skills_helpers as helpers
from tests.proxy.api.skills_helpers import Api, error_of, skill_md

pytestmark = pytest.mark.django_db
api, bob_api = helpers.api, helpers.bob_api


NEW_MD = skill_md("taken-over", description="Bob's version of the skill.")


def every_call(api: Api, skill_id: object) -> dict[str, object]:
    """One request to each per-skill endpoint, reads and writes."""
    exported = api.get(f"/{skill_id}/export", {"format": "zip"})
    if exported.streaming:
        # Read it all, as a client would: that closes the archive's spool file.
        exported.content_bytes = b"".join(exported.streaming_content)
    return {
        "get": api.get(f"/{skill_id}"),
        "md": api.get(f"/{skill_id}/md"),
        "versions": api.get(f"/{skill_id}/versions"),
        "export md": api.get(f"/{skill_id}/export", {"format": "md"}),
        "export zip": exported,
        "put md": api.put_md(skill_id, NEW_MD),
        "rollback": api.send_json("post", f"/{skill_id}/rollback", {"to_number": 1}),
        "delete": api.delete(f"/{skill_id}"),
    }


def test_another_users_skill_is_invisible_on_every_endpoint(
    api, bob_api, user, other_user
):
    alices = make_skill(owner=user, title="Alice private")
    before = (alices.version_number, alices.content_hash)

    responses = every_call(bob_api, alices.pk)
    for scope in ("user", "library", "all"):
        listed = bob_api.get(data={"scope": scope, "status": "any"}).json()["data"]
        assert str(alices.pk) not in [item["id"] for item in listed], scope

    for name, response in responses.items():
        assert response.status_code == 404, name
        assert error_of(response)["code"] == "not_found", name
    alices.refresh_from_db()
    assert (alices.version_number, alices.content_hash) == before
    # Alice still has everything; her own key reads it fine.
    assert api.get(f"/{alices.pk}").status_code == 200


def test_a_foreign_id_answers_exactly_like_a_missing_one(bob_api, user):
    alices = make_skill(owner=user)
    missing = uuid.uuid4()

    for call in ("get", "md", "put md", "delete"):
        foreign = every_call(bob_api, alices.pk)[call]
        absent = every_call(bob_api, missing)[call]
        assert foreign.status_code == absent.status_code == 404
        assert error_of(foreign)["message"] == error_of(absent)["message"].replace(
            str(missing), str(alices.pk)
        )


def test_imports_of_the_same_skill_stay_per_user(api, bob_api, user, other_user):
    md = skill_md("release-notes", description="Write release notes.").encode()

    mine = api.upload("SKILL.md", md).json()["created"]
    theirs = bob_api.upload("SKILL.md", md, overwrite="true").json()["created"]

    assert mine and theirs and mine != theirs
    assert Skill.objects.get(pk=mine[0]).owner == user
    assert Skill.objects.get(pk=theirs[0]).owner == other_user


def test_library_skills_are_readable_but_read_only(api, user, library):
    shared = make_skill(library=library, title="Shared")

    reads = {
        name: response
        for name, response in every_call(api, shared.pk).items()
        if name in ("get", "md", "versions", "export md", "export zip")
    }
    writes = {
        "put md": api.put_md(shared.pk, NEW_MD),
        "rollback": api.send_json("post", f"/{shared.pk}/rollback", {"to_number": 1}),
        "delete": api.delete(f"/{shared.pk}"),
    }

    for name, response in reads.items():
        assert response.status_code == 200, name
    assert reads["get"].json()["data"]["read_only"] is True
    assert reads["get"].json()["data"]["source"] == "library:team"
    for name, response in writes.items():
        assert response.status_code == 403, name
        assert error_of(response)["type"] == "permission_error"
        assert "read-only" in error_of(response)["message"]
    assert Skill.objects.get(pk=shared.pk).version_number == 1


def test_staff_may_edit_library_skills(api, user, library):
    shared = make_skill(library=library, title="Shared")
    user.is_staff = True
    user.save()
    md = api.get(f"/{shared.pk}/md").content.decode()

    response = api.put_md(shared.pk, md.replace("No emojis.", "Curated."))

    assert response.status_code == 200
    assert response.json()["data"]["read_only"] is False
    assert "Curated." in Skill.objects.get(pk=shared.pk).instructions


def test_a_service_key_sub_user_sees_only_its_own_skills(client, user):
    owners = make_skill(owner=user, title="Owner's skill")
    secret = api_key_create(owner=user, can_act_for_users=True).secret
    service = Api(client, secret)

    as_sub = service.get(data={"scope": "all"}, HTTP_X_AUTOSKILL_USER="eval-case-1")
    own = service.get(f"/{owners.pk}", HTTP_X_AUTOSKILL_USER="eval-case-1")

    assert as_sub.status_code == 200
    assert as_sub.json()["data"] == []
    assert own.status_code == 404
    sub = User.objects.get(parent=user, external_id="eval-case-1")
    sub_skill = make_skill(owner=sub, title="Sub skill")
    listed = service.get(HTTP_X_AUTOSKILL_USER="eval-case-1").json()["data"]
    assert [item["id"] for item in listed] == [str(sub_skill.pk)]
    # Without the header the key is its owner again.
    assert [item["id"] for item in service.get().json()["data"]] == [str(owners.pk)]


def test_an_ordinary_key_ignores_the_sub_user_header(api, user, other_user):
    bobs = make_skill(owner=other_user)

    response = api.get(f"/{bobs.pk}", HTTP_X_AUTOSKILL_USER="bob")

    assert response.status_code == 404


def test_a_browser_session_reads_and_writes_with_csrf(user):
    skill = make_skill(owner=user)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    url = f"/v1/autoskill/skills/{skill.pk}/md"

    listed = browser.get("/v1/autoskill/skills", HTTP_ACCEPT="application/json")
    md = browser.get(url).content.decode()
    no_token = browser.put(url, md.replace("No emojis.", "A."), "text/markdown")
    browser.get("/admin/login/")  # any page that sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    with_token = browser.put(
        url, md.replace("No emojis.", "B."), "text/markdown", HTTP_X_CSRFTOKEN=token
    )

    assert [item["id"] for item in listed.json()["data"]] == [str(skill.pk)]
    assert no_token.status_code == 403
    assert "CSRF" in error_of(no_token)["message"]
    assert with_token.status_code == 200, with_token.content
    assert "B." in Skill.objects.get(pk=skill.pk).instructions


def test_a_session_never_reaches_another_users_skill(user, other_user):
    bobs = make_skill(owner=other_user)
    browser = Client()
    browser.force_login(user)

    response = browser.get(f"/v1/autoskill/skills/{bobs.pk}")

    assert response.status_code == 404
