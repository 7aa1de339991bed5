"""GET /metrics: Prometheus text that moves with requests, upstream errors and jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from extraction.models import ExtractionJob, JobStatus, JobTrigger
from proxy.auth import api_key_create
from tests.proxy.live_server import use_fake_upstream

ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(client, **headers) -> dict[tuple[str, tuple], float]:  # noqa: ANN001
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return _samples(response.content.decode())


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_request_counters_and_latency_move_after_requests(client):
    """Requests are counted by method, route and status, and timed."""
    # given
    before = _scrape(client)
    # when
    for _ in range(3):
        client.get("/health")
    client.get("/no/such/page")
    after = _scrape(client)
    # then
    labels = {"method": "GET", "route": "health", "status": "200"}
    assert _value(after, "autoskill_http_requests_total", **labels) - _value(
        before, "autoskill_http_requests_total", **labels
    ) == pytest.approx(3)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _value(after, "autoskill_http_requests_total", **unmatched) >= 1
    count = "autoskill_http_request_duration_seconds_count"
    assert _value(after, count, method="GET", route="health") - _value(
        before, count, method="GET", route="health"
    ) == pytest.approx(3)


@pytest.mark.django_db
def test_jobs_gauge_matches_the_rows(client, user):
    """Extraction jobs by status are read from the database at scrape time."""
    # given
    for i, status in enumerate(
        (JobStatus.SCHEDULED, JobStatus.SCHEDULED, JobStatus.FAILED)
    ):
        ExtractionJob.objects.create(
            user=user,
            status=status,
            trigger=JobTrigger.EXTRACT_NOW,
            window_hash=f"w{i}",
        )
    # when
    samples = _scrape(client)
    # then
    for status in JobStatus.values:
        expected = ExtractionJob.objects.filter(status=status).count()
        assert _value(samples, "autoskill_extraction_jobs", status=status) == expected
    assert _value(samples, "autoskill_extraction_jobs", status="scheduled") == 2
    assert _value(samples, "autoskill_database_up") == 1


@pytest.mark.django_db(transaction=True)
def test_an_upstream_error_is_counted(client, settings, fake_openai, user):
    """A 5xx from the upstream becomes a 502 and one count for that provider and status."""
    # given
    use_fake_upstream(settings, fake_openai, top_k=1)
    secret = api_key_create(owner=user).secret
    labels = {"provider": "generic", "reason": "503"}
    before = _value(_scrape(client), "autoskill_upstream_errors_total", **labels)
    fake_openai.fail("/v1/chat/completions", 503, "overloaded")
    # when
    response = client.post(
        "/v1/chat/completions",
        {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    # then
    assert response.status_code == 502
    after = _value(_scrape(client), "autoskill_upstream_errors_total", **labels)
    assert after - before == 1


@pytest.mark.django_db(transaction=True)
def test_proxy_overhead_is_observed(client, user):
    secret = api_key_create(owner=user).secret
    before = _value(_scrape(client), "autoskill_proxy_overhead_seconds_count")
    response = client.post(
        "/v1/chat/completions",
        {"model": "any", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200
    after = _value(_scrape(client), "autoskill_proxy_overhead_seconds_count")
    assert after - before == 1


@pytest.mark.django_db
def test_without_a_token_only_loopback_and_staff_may_read(client, admin_client, user):
    """A remote client is refused; a loopback one behind a proxy counts as remote."""
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    remote = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert remote.status_code == 403
    assert b"AUTOSKILL_METRICS_TOKEN" in remote.content
    proxied = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 403
    assert admin_client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    client.force_login(user)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


@pytest.mark.django_db
def test_with_a_token_scrapers_must_send_it(client, admin_client, settings):
    settings.AUTOSKILL_METRICS_TOKEN = "scrape-token-0123456789"
    refused = client.get("/metrics")  # loopback alone no longer suffices
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    good = client.get(
        "/metrics",
        REMOTE_ADDR="203.0.113.9",
        HTTP_AUTHORIZATION="Bearer scrape-token-0123456789",
    )
    assert good.status_code == 200
    assert admin_client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_other_methods_are_refused(client):
    response = client.post("/metrics")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"


def test_multiprocess_mode_sums_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape reports what other processes counted."""
    code = (
        "import django; django.setup();"
        "from autoskill_site.metrics import count_upstream_error;"
        "count_upstream_error(provider='openai', reason='timeout')"
    )
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "autoskill_site.settings.test",
    }
    for _ in range(2):  # two separate processes count once each
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=120
        )
    scrape = (
        "import django; django.setup();"
        "from autoskill_site.metrics import metrics_text;"
        "print(metrics_text().decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", scrape],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    samples = _samples(done.stdout)
    labels = {"provider": "openai", "reason": "timeout"}
    assert _value(samples, "autoskill_upstream_errors_total", **labels) == 2
