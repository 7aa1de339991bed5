"""Conversation imports: 202 + a background job, then its status and report."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from extraction.models import ExtractionJob
from skills.models import Skill
from tests.proxy.api import extraction_fixtures as fixtures
from tests.proxy.api.extraction_fixtures import RELEASE

pytestmark = pytest.mark.django_db
URL = "/v1/autoskill/conversations/import"
auth, other_auth = fixtures.auth, fixtures.other_auth
immediate_tasks = fixtures.immediate_tasks

FRENCH = [
    {"role": "user", "content": "Always answer me in French, and keep answers short."},
    {"role": "assistant", "content": "D'accord."},
]


def post_json(client, payload, headers):
    return client.post(URL, payload, content_type="application/json", **headers)


def test_json_conversations_are_imported_by_a_job_with_a_report(
    client, user, auth, immediate_tasks
):
    response = post_json(
        client, {"conversations": [{"messages": RELEASE}], "hint": "process"}, auth
    )

    assert response.status_code == 202
    body = response.json()
    assert body["object"] == "conversation_import"
    assert body["status"] == "completed"
    assert response["Location"] == f"{URL}/{body['id']}"
    report = body["report"]
    assert (report["total"], report["processed"], report["failed"]) == (1, 1, 0)
    assert report["outcomes"] == {"added": 1}
    skill = Skill.objects.get(owner=user)
    assert [s["id"] for s in report["skills"]] == [str(skill.pk)]
    # The temporary file never shows: the report names the upload.
    assert report["path"] == "request.json"
    assert "autoskill-import-" not in json.dumps(report)

    status = client.get(response["Location"], **auth)
    assert status.status_code == 200
    assert status.json()["report"] == report
    job = ExtractionJob.objects.get(user=user)
    assert (job.trigger, job.hint) == ("import_conversation", "process")


def test_a_single_messages_list_is_one_conversation(
    client, user, auth, immediate_tasks
):
    body = post_json(client, {"messages": FRENCH}, auth).json()

    assert body["report"]["total"] == 1
    assert body["report"]["processed"] == 1


def test_a_jsonl_upload_is_imported_line_by_line(client, user, auth, immediate_tasks):
    lines = "\n".join(json.dumps({"messages": m}) for m in (RELEASE, FRENCH))
    upload = SimpleUploadedFile(
        "../../etc/chats.jsonl", lines.encode(), content_type="application/jsonl"
    )

    response = client.post(URL, {"file": upload, "hint": ""}, **auth)

    assert response.status_code == 202
    report = response.json()["report"]
    assert (report["total"], report["processed"], report["failed"]) == (2, 2, 0)
    assert list(report["per_file"]) == ["chats.jsonl"]
    assert ExtractionJob.objects.filter(user=user).count() == 2


def test_dry_run_decides_but_stores_nothing(client, auth, immediate_tasks):
    response = post_json(
        client, {"conversations": [{"messages": RELEASE}], "dry_run": True}, auth
    )

    assert response.json()["report"]["outcomes"] == {"simulated": 1}
    assert not Skill.objects.exists()
    assert not ExtractionJob.objects.exists()


@pytest.mark.parametrize("key", ["file_path", "root_dir", "zip_path"])
def test_server_paths_are_refused(client, auth, immediate_tasks, key):
    response = post_json(client, {key: "/etc/passwd"}, auth)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == key and "upload" in error["message"]
    assert not ExtractionJob.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "total", "read_errors"),
    [
        ("chats.txt", json.dumps([{"messages": FRENCH}]).encode(), 1, 0),
        ("chats.json", b"{not json", 0, 1),
        ("chats.json", b"\xff\xfe\x00bad", 0, 1),
        ("chats.jsonl", b"   \n", 0, 0),
        ("image.png", b"\x89PNG\r\n\x1a\n", 0, 1),
    ],
)
def test_what_cannot_be_read_is_reported_by_the_job(
    client, auth, immediate_tasks, name, content, total, read_errors
):
    upload = SimpleUploadedFile(name, content)

    response = client.post(URL, {"file": upload}, **auth)

    assert response.status_code == 202
    report = response.json()["report"]
    assert (report["total"], report["read_errors"]) == (total, read_errors)
    assert list(report["per_file"]) == [name]


def test_nothing_to_import_is_a_400(client, auth, immediate_tasks):
    response = post_json(client, {"hint": "x"}, auth)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "conversations"


def test_an_empty_payload_is_an_import_of_nothing(client, auth, immediate_tasks):
    response = post_json(client, {"conversations": []}, auth)

    assert response.status_code == 202
    assert response.json()["report"]["total"] == 0


def test_too_large_is_a_413(client, auth, settings, immediate_tasks):
    settings.AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = 100

    response = post_json(client, {"conversations": [{"messages": RELEASE}]}, auth)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_bad_options_are_400(client, auth, immediate_tasks):
    response = post_json(client, {"messages": FRENCH, "max_messages": -1}, auth)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_messages"


def test_another_users_import_is_a_404(client, auth, other_auth, immediate_tasks):
    import_id = post_json(client, {"messages": FRENCH}, auth).json()["id"]

    theirs = client.get(f"{URL}/{import_id}", **other_auth)
    unknown = client.get(f"{URL}/nope", **auth)

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()


@pytest.mark.django_db(transaction=True)  # the worker closes its connection
def test_with_the_database_backend_the_worker_runs_it_later(client, user, auth):
    response = post_json(client, {"conversations": [{"messages": RELEASE}]}, auth)

    assert response.status_code == 202
    queued = response.json()
    assert (queued["status"], queued["report"]) == ("scheduled", None)
    task = DBTaskResult.objects.get(pk=queued["id"])
    assert task.queue_name == "default"
    assert not Skill.objects.exists()

    call_command("db_worker", batch=True, queue_name="default", startup_delay=False)

    done = client.get(f"{URL}/{queued['id']}", **auth).json()
    assert done["status"] == "completed"
    assert done["report"]["processed"] == 1
    assert Skill.objects.filter(owner=user).count() == 1


def test_a_failed_import_reports_its_error_without_a_traceback(
    client, user, auth, immediate_tasks
):
    user.is_active = False  # the worker refuses to import for an inactive user
    user.save(update_fields=["is_active"])
    from proxy.api.extraction_tasks import conversations_import_task, remember_result

    result = conversations_import_task.enqueue(
        user_id=user.pk, text="[]", file_name="x.json"
    )
    remember_result(result)
    user.is_active = True
    user.save(update_fields=["is_active"])

    body = client.get(f"{URL}/{result.id}", **auth).json()

    assert body["status"] == "failed" and body["report"] is None
    assert body["error"].startswith("LookupError:")
    assert "Traceback" not in body["error"]


def test_a_body_that_is_not_an_object_is_a_400(client, auth, immediate_tasks):
    response = post_json(client, [{"messages": FRENCH}], auth)

    assert response.status_code == 400
    assert not ExtractionJob.objects.exists()
