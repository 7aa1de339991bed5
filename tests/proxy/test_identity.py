"""Who a request acts for: ordinary keys are their owner; service keys may name sub-users."""

from __future__ import annotations

import pytest

from accounts.models import User
from proxy.auth import api_key_create
from tests.factories import make_skill

pytestmark = pytest.mark.django_db
URL = "/v1/autoskill/skills/search"


def search(client, key: str, query: str, **headers):
    return client.post(
        URL, {"query": query, "min_score": 0, "limit": 5}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}", **headers,
    )  # fmt: skip


def test_an_ordinary_key_ignores_the_sub_user_header(client, user, other_user):
    key = api_key_create(owner=user).secret
    make_skill(owner=user, title="Release notes writer", triggers=["release notes"])

    response = search(client, key, "release notes", HTTP_X_AUTOSKILL_USER="bob")

    assert response.json()["user"] == "alice"
    assert len(response.json()["data"]) == 1
    assert not User.objects.filter(parent__isnull=False).exists()


def test_a_service_key_acts_for_a_namespaced_sub_user(client, user):
    key = api_key_create(owner=user, can_act_for_users=True).secret
    make_skill(owner=user, title="Release notes writer", triggers=["release notes"])
    long_id = (
        "eval-case-" + "x" * 81
    )  # the original's evaluation client sends ~91 characters

    response = search(client, key, "release notes", HTTP_X_AUTOSKILL_USER=long_id)

    assert response.status_code == 200
    sub = User.objects.get(parent=user, external_id=long_id)
    assert response.json()["user"] == sub.username
    assert (
        response.json()["data"] == []
    )  # the owner's own skills are not the sub-user's


def test_the_body_user_field_names_the_sub_user_too(client, user):
    key = api_key_create(owner=user, can_act_for_users=True).secret
    client.post(URL, {"query": "x", "user": "case-7"}, content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}")  # fmt: skip
    assert User.objects.filter(parent=user, external_id="case-7").count() == 1


def test_two_services_naming_the_same_sub_user_get_different_users(
    client, user, other_user
):
    mine = api_key_create(owner=user, can_act_for_users=True).secret
    theirs = api_key_create(owner=other_user, can_act_for_users=True).secret
    search(client, mine, "x", HTTP_X_AUTOSKILL_USER="shared-name")
    search(client, theirs, "x", HTTP_X_AUTOSKILL_USER="shared-name")

    subs = User.objects.filter(external_id="shared-name")
    assert {s.parent_id for s in subs} == {user.pk, other_user.pk}


def test_a_sub_user_id_that_is_too_long_is_a_clear_error(client, user):
    key = api_key_create(owner=user, can_act_for_users=True).secret

    response = search(client, key, "x", HTTP_X_AUTOSKILL_USER="y" * 201)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "user"


def test_sub_users_are_visible_in_the_admin(client, user, django_user_model):
    from accounts.services import sub_user_get_or_create

    sub = sub_user_get_or_create(parent=user, external_id="case-42")
    admin = django_user_model.objects.create_superuser(
        "root", "root@example.com", "pw-root-123"
    )
    client.force_login(admin)

    listing = client.get("/admin/accounts/user/?q=case-42")
    page = client.get(f"/admin/accounts/user/{sub.pk}/change/")

    assert listing.status_code == 200 and sub.username in listing.content.decode()
    assert page.status_code == 200 and "case-42" in page.content.decode()
