"""The staff report pages of stored evaluation runs."""

from __future__ import annotations

import pytest

from evaluation.services import evaluation_run_create

pytestmark = pytest.mark.django_db

SKILL_ID = "0b9d8a5e-8f1c-4a63-9a55-4b3c8f8f0d11"
REPORT = {
    "meta": {"base_url": "http://127.0.0.1:8000", "model": "offline", "seed": 7},
    "evaluation": {
        "summary": {"total_cases": 1, "ok_cases": 1, "failed_cases": 0,
                    "metrics": {"sr_before": 0.0, "sr_after": 1.0, "sr_uplift_rel": None}},
        "cases": [{"scenario": {"id": "release-steps-en", "topic": "release procedure",
                                "expect_extract": True},
                   "ok": True, "error": None, "scores": {"before": 0.0, "after": 100.0},
                   "success": {"before": False, "after": True}, "retrieval_hit_rate": 1.0,
                   "evolution": {"skill_ids": [SKILL_ID],
                                 "skills": [{"id": SKILL_ID, "name": "release-process"}]}}],
    },
}  # fmt: skip


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="cur", password="pw-cur-123", is_staff=True
    )  # noqa: E501


def test_staff_sees_runs_and_scores_and_skill_links(client, staff):
    run = evaluation_run_create(report=REPORT)
    client.force_login(staff)
    listing = client.get("/evaluations/")
    assert listing.status_code == 200 and f"/evaluations/{run.pk}/" in listing.text
    assert "Content-Security-Policy" in listing.headers
    detail = client.get(f"/evaluations/{run.pk}/")
    assert detail.status_code == 200
    assert "release-steps-en" in detail.text and "100.0" in detail.text
    assert f"/admin/skills/skill/{SKILL_ID}/change/" in detail.text
    assert "<script>" not in detail.text and 'style="' not in detail.text


def test_non_staff_is_sent_to_login(client, user):
    client.force_login(user)
    response = client.get("/evaluations/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_unknown_run_is_404(client, staff):
    client.force_login(staff)
    assert client.get("/evaluations/999/").status_code == 404
