"""API keys in the admin: issued through the service, the secret shown once, revoked."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proxy.auth import (
    AuthenticationFailed,
    api_key_authenticate,
    api_key_create,
    key_digest,
)
from proxy.models import ApiKey

pytestmark = pytest.mark.django_db

LIST_URL = "admin:proxy_apikey_changelist"
ADD_URL = "admin:proxy_apikey_add"
SECRET_RE = re.compile(r'<output id="api-key-secret"[^>]*>([^<]+)</output>')


def create_in_admin(client, owner, **fields):
    data = {"owner": owner.pk, "name": "", **fields}
    return client.post(reverse(ADD_URL), data)


def every_stored_text():
    """Every value in every table of the test database, as text."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            texts.extend(str(value) for row in cursor.fetchall() for value in row)
    return texts


def listed(client, **params):
    response = client.get(reverse(LIST_URL), params)
    assert response.status_code == 200
    return {row.prefix for row in response.context["cl"].result_list}


def test_non_staff_are_sent_to_the_admin_login(client, user):
    client.force_login(user)
    response = client.get(reverse(LIST_URL))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_add_form_asks_for_owner_name_and_the_service_flag(admin_client):
    response = admin_client.get(reverse(ADD_URL))
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {
        "owner",
        "name",
        "can_act_for_users",
        "rate_limit_per_minute",
    }
    assert "Service key" in response.content.decode()


def test_created_key_is_shown_once_and_only_its_hash_is_stored(admin_client, user):
    response = create_in_admin(admin_client, user, name="laptop")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = SECRET_RE.search(response.content.decode()).group(1)
    row = ApiKey.objects.get()
    assert (row.owner, row.name, row.can_act_for_users) == (user, "laptop", False)
    assert secret.startswith(row.prefix + "_") and row.key_hash == key_digest(secret)
    assert api_key_authenticate(secret=secret) == row
    # The admin logged the addition, naming the key by its prefix only.
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert entry.is_addition() and row.prefix in entry.object_repr

    # Not in any row of any table (keys, admin log, sessions, ...).
    assert not [text for text in every_stored_text() if secret in text]
    # And no later page shows it again.
    for url in (
        reverse("admin:proxy_apikey_change", args=[row.pk]),
        reverse(LIST_URL),
        reverse("admin:index"),
    ):
        later = admin_client.get(url)
        assert later.status_code == 200
        assert secret not in later.content.decode()
        assert row.prefix in later.content.decode() or url == reverse("admin:index")


def test_service_keys_are_created_listed_and_filtered(admin_client, user, other_user):
    create_in_admin(admin_client, user, name="backend", can_act_for_users="on")
    plain = api_key_create(owner=other_user, name="cli").api_key
    service = ApiKey.objects.get(can_act_for_users=True)

    assert service.owner == user
    assert listed(admin_client, service="yes") == {service.prefix}
    assert listed(admin_client, service="no") == {plain.prefix}
    assert listed(admin_client, q="bob") == {plain.prefix}
    assert listed(admin_client, q=service.prefix) == {service.prefix}


def test_an_inactive_owner_is_refused_with_a_message_and_nothing_is_stored(
    admin_client, user
):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = create_in_admin(admin_client, user)

    assert response.status_code == 200
    assert "This user is inactive" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_a_missing_owner_is_a_form_error_not_a_crash(admin_client):
    response = admin_client.post(reverse(ADD_URL), {"owner": "", "name": "x"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["owner"]
    assert not ApiKey.objects.exists()


def test_revoke_action_revokes_through_the_service_and_the_key_stops_working(
    admin_client, user
):
    issued = api_key_create(owner=user)
    api_key_authenticate(secret=issued.secret)  # used once: last used is set
    kept = api_key_create(owner=user)

    response = admin_client.post(
        reverse(LIST_URL),
        {"action": "revoke", "_selected_action": [issued.api_key.pk]},
        follow=True,
    )

    assert "Revoked 1 key(s)." in [str(m) for m in response.context["messages"]]
    with pytest.raises(AuthenticationFailed):
        api_key_authenticate(secret=issued.secret)
    assert api_key_authenticate(secret=kept.secret) == kept.api_key
    assert listed(admin_client, state="revoked") == {issued.api_key.prefix}
    assert listed(admin_client, state="active") == {kept.api_key.prefix}
    body = admin_client.get(reverse(LIST_URL)).content.decode()
    assert "Last used at" in body


def test_keys_are_neither_edited_nor_deleted_in_the_admin(admin_client, user):
    key = api_key_create(owner=user, name="laptop").api_key
    url = reverse("admin:proxy_apikey_change", args=[key.pk])

    admin_client.post(url, {"name": "renamed", "can_act_for_users": "on"})
    delete = admin_client.post(
        reverse("admin:proxy_apikey_delete", args=[key.pk]), {"post": "yes"}
    )

    key.refresh_from_db()
    assert (key.name, key.can_act_for_users) == ("laptop", False)
    assert delete.status_code == 403 and ApiKey.objects.filter(pk=key.pk).exists()


def test_staff_who_may_only_view_keys_cannot_create_or_revoke(
    client, django_user_model, user
):
    viewer = django_user_model.objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    key = api_key_create(owner=user).api_key
    client.force_login(viewer)

    assert client.get(reverse(LIST_URL)).status_code == 200
    assert client.get(reverse(ADD_URL)).status_code == 403
    client.post(reverse(LIST_URL), {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None


def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, django_user_model, django_assert_max_num_queries
):
    owners = [
        django_user_model.objects.create_user(username=f"owner{i}") for i in range(5)
    ]

    def add_keys(start, stop):
        for i in range(start, stop):
            api_key_create(
                owner=owners[i % len(owners)], name=f"key {i}", can_act_for_users=i % 2
            )

    def render(expected_rows):
        with CaptureQueriesContext(connection) as queries:
            assert len(listed(admin_client)) == expected_rows
        return len(queries)

    add_keys(0, 3)
    with django_assert_max_num_queries(10):
        few = render(3)
    add_keys(3, 30)
    with django_assert_max_num_queries(10):
        many = render(30)
    assert few == many
