# ruff: noqa: F811 - pytest injects the fixtures imported from live_server by name
"""Requests per API key per minute: 429 with Retry-After in OpenAI's envelope.

The limiter's clock is pinned 10 s into a window (and moved by hand), so no test
depends on where in the real minute it runs. The counter runs in the database and,
when REDIS_URL is set (CI's second pass), in Redis too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time as real_time
import uuid

import openai
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from extraction.models import JobTrigger
from extraction.services import extraction_submit
from proxy import ratelimit
from proxy.auth import api_key_create
from proxy.models import ApiKey, RateLimitWindow
from proxy.ratelimit import RateDecision, rate_limit_count
from tests.proxy.live_server import (  # noqa: F401 - fixtures
    asgi_server,
    http_client,
    sdk_client,
    upstream,
)

WINDOW = 1_800_000_000  # a multiple of 60: a window starts here
SKILLS = "/v1/autoskill/skills"
REDIS_URL = os.environ.get("REDIS_URL", "")
BACKENDS = [
    "db",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(
            not REDIS_URL, reason="REDIS_URL is not set (CI's PostgreSQL+Redis pass)"
        ),
    ),
]


class Clock:
    """The limiter's `time` module: wall time pinned, monotonic time real."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return real_time.monotonic()


@pytest.fixture
def clock(monkeypatch) -> Clock:
    pinned = Clock(WINDOW + 10)
    monkeypatch.setattr(ratelimit, "time", pinned)
    return pinned


@pytest.fixture(params=BACKENDS)
def backend(request, settings) -> str:
    settings.AUTOSKILL_RATE_LIMIT_REDIS_URL = (
        REDIS_URL if request.param == "redis" else ""
    )
    return request.param


@pytest.fixture
def limits(settings, clock, backend):
    settings.AUTOSKILL_RATE_LIMIT_PER_MINUTE = 3
    settings.AUTOSKILL_RATE_LIMIT_CHAT_PER_MINUTE = 2
    return settings


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.django_db
def test_the_request_past_the_limit_is_a_429_with_retry_after_and_envelope(
    limits, user
):
    """Three requests pass and count down; the fourth is refused as OpenAI refuses."""
    # given
    secret = api_key_create(owner=user).secret
    client = Client()
    # when
    passed = [client.get(SKILLS, **bearer(secret)) for _ in range(3)]
    refused = client.get(SKILLS, **bearer(secret))
    # then
    assert [r.status_code for r in passed] == [200, 200, 200]
    assert [r["x-ratelimit-remaining-requests"] for r in passed] == ["2", "1", "0"]
    assert {r["x-ratelimit-limit-requests"] for r in passed} == {"3"}
    assert passed[0]["x-ratelimit-reset-requests"] == "50s"
    assert refused.status_code == 429
    assert refused["Retry-After"] == "50"
    assert refused["x-ratelimit-remaining-requests"] == "0"
    error = refused.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert "Limit 3, Used 3, Requested 1" in error["message"]
    assert "try again in 50s" in error["message"]


@pytest.mark.django_db
def test_another_key_is_not_affected(limits, user, other_user):
    """Limits are per key: one client spending its minute does not block another."""
    spent = api_key_create(owner=user).secret
    fresh_same_owner = api_key_create(owner=user).secret
    other = api_key_create(owner=other_user).secret
    client = Client()
    for _ in range(4):
        client.get(SKILLS, **bearer(spent))

    assert client.get(SKILLS, **bearer(spent)).status_code == 429
    assert client.get(SKILLS, **bearer(fresh_same_owner)).status_code == 200
    assert client.get(SKILLS, **bearer(other)).status_code == 200


@pytest.mark.django_db
def test_the_next_window_lets_the_key_in_again(limits, clock, user):
    secret = api_key_create(owner=user).secret
    client = Client()
    for _ in range(3):
        client.get(SKILLS, **bearer(secret))
    clock.now = WINDOW + 59.5
    late = client.get(SKILLS, **bearer(secret))
    assert late.status_code == 429 and late["Retry-After"] == "1"

    clock.now = WINDOW + 60
    again = client.get(SKILLS, **bearer(secret))

    assert again.status_code == 200
    assert again["x-ratelimit-remaining-requests"] == "2"
    assert again["x-ratelimit-reset-requests"] == "1m0s"


@pytest.mark.django_db
def test_a_key_s_own_limit_wins_and_zero_means_unlimited(limits, user):
    tight = api_key_create(owner=user, rate_limit_per_minute=1).secret
    free = api_key_create(owner=user, rate_limit_per_minute=0).secret
    client = Client()

    assert client.get(SKILLS, **bearer(tight)).status_code == 200
    assert client.get(SKILLS, **bearer(tight)).status_code == 429
    answers = [client.get(SKILLS, **bearer(free)) for _ in range(6)]
    assert {r.status_code for r in answers} == {200}
    assert not answers[-1].has_header("x-ratelimit-limit-requests")


@pytest.mark.django_db
def test_a_key_issued_in_the_admin_keeps_its_limit(limits, admin_client, user):
    """The admin's add form sets the key's own limit; the API then enforces it."""
    # given
    created = admin_client.post(
        reverse("admin:proxy_apikey_add"),
        {"owner": user.pk, "name": "batch", "rate_limit_per_minute": "1"},
    )
    secret = re.search(r"(ask_[0-9a-f]{8}_[A-Za-z0-9_-]+)", created.content.decode())
    client = Client()
    # when
    first = client.get(SKILLS, **bearer(secret.group(1)))
    second = client.get(SKILLS, **bearer(secret.group(1)))
    # then
    assert ApiKey.objects.get(name="batch").rate_limit_per_minute == 1
    assert first.status_code == 200 and first["x-ratelimit-limit-requests"] == "1"
    assert second.status_code == 429


@pytest.mark.django_db
def test_zero_turns_the_limit_off(settings, clock, user):
    settings.AUTOSKILL_RATE_LIMIT_PER_MINUTE = 0
    settings.AUTOSKILL_RATE_LIMIT_CHAT_PER_MINUTE = 0
    secret = api_key_create(owner=user).secret
    client = Client()

    answers = [client.get(SKILLS, **bearer(secret)) for _ in range(5)]

    assert {r.status_code for r in answers} == {200}
    assert not answers[0].has_header("x-ratelimit-limit-requests")
    assert not RateLimitWindow.objects.exists()


@pytest.mark.django_db
def test_a_browser_session_is_not_limited_by_key_limits(limits, user):
    client = Client()
    client.force_login(user)

    answers = [client.get(SKILLS) for _ in range(5)]

    assert {r.status_code for r in answers} == {200}
    assert not answers[-1].has_header("x-ratelimit-remaining-requests")


@pytest.mark.django_db
def test_a_wrong_key_is_a_401_and_counts_nothing(limits, user):
    client = Client()
    answers = [client.get(SKILLS, **bearer("ask_0000_nope")) for _ in range(5)]
    assert {r.status_code for r in answers} == {401}
    assert not RateLimitWindow.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_async_proxy_views_count_chat_apart_from_the_rest(
    limits, asgi_server, http_client, upstream, user
):
    """Through the SDK: chat completions have their own limit; /v1/models and the
    REST API (a sync DRF view under ASGI) share the general one."""
    # given
    secret = api_key_create(owner=user).secret
    client = sdk_client(asgi_server, secret)
    turn = [{"role": "user", "content": "hello"}]
    try:
        # when
        for _ in range(2):
            client.chat.completions.create(model="fake-chat", messages=turn)
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="fake-chat", messages=turn)
        listed = client.models.with_raw_response.list()
        skills = http_client.get(
            f"{asgi_server.url}{SKILLS}", headers={"Authorization": f"Bearer {secret}"}
        )
    finally:
        client.close()
    # then
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.type == "requests"
    assert refused.value.response.headers["retry-after"] == "50"
    assert listed.http_response.status_code == 200
    assert listed.headers["x-ratelimit-remaining-requests"] == "2"
    assert skills.status_code == 200
    assert skills.headers["x-ratelimit-remaining-requests"] == "1"


@pytest.mark.django_db(transaction=True)
def test_a_streamed_chat_carries_the_headers_and_the_sse_stream_is_limited(
    limits, asgi_server, http_client, upstream, user
):
    secret = api_key_create(owner=user, rate_limit_per_minute=1).secret
    headers = {"Authorization": f"Bearer {secret}"}
    job, _ = extraction_submit(
        user=user,
        messages=[{"role": "user", "content": "Always bullet release notes."}],
        trigger=JobTrigger.EXTRACT_NOW,
    )
    body = {"model": "fake-chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip

    with http_client.stream(
        "POST", f"{asgi_server.url}/v1/chat/completions", json=body, headers=headers
    ) as streamed:
        chunks = "".join(streamed.iter_text())
    events = http_client.get(
        f"{asgi_server.url}/v1/autoskill/extractions/{job.pk}/events",
        headers=headers,
        params={"timeout_s": 1},
    )

    assert streamed.status_code == 200 and "[DONE]" in chunks
    assert streamed.headers["x-ratelimit-remaining-requests"] == "0"
    # The chat spent the key's chat limit; the event stream counts on the general one.
    assert events.status_code == 200
    again = http_client.get(
        f"{asgi_server.url}/v1/autoskill/extractions/{job.pk}/events",
        headers=headers,
        params={"timeout_s": 1},
    )
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "rate_limit_exceeded"
    assert again.headers["retry-after"] == "50"


@pytest.mark.django_db
def test_past_windows_are_pruned_when_a_new_one_starts(clock, backend, user):
    if backend == "redis":
        pytest.skip("Redis expires its counters itself")
    for start in (WINDOW - 120, WINDOW - 60):
        RateLimitWindow.objects.create(bucket="old:api", window_start=start, hits=9)

    assert rate_limit_count(name="k:api", window=WINDOW) == 1

    kept = set(RateLimitWindow.objects.values_list("window_start", flat=True))
    assert kept == {WINDOW - 60, WINDOW}


@pytest.mark.django_db
def test_an_unreachable_redis_lets_requests_in(settings, clock, user, caplog):
    """Failing open: the limiter is never what takes the API down."""
    settings.AUTOSKILL_RATE_LIMIT_PER_MINUTE = 1
    settings.AUTOSKILL_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens
    before = ratelimit._last_warning[0]
    ratelimit._last_warning[0] = -1e9  # the once-a-minute warning is due
    secret = api_key_create(owner=user).secret
    client = Client()
    try:
        answers = [client.get(SKILLS, **bearer(secret)) for _ in range(3)]
    finally:
        ratelimit._last_warning[0] = before

    assert {r.status_code for r in answers} == {200}
    assert "Rate limit not counted" in caplog.text


def test_durations_read_like_openai_s():
    assert (
        RateDecision(limit=1, used=1, reset_after=0.2).headers()[
            "x-ratelimit-reset-requests"
        ]
        == "200ms"
    )
    assert ratelimit._duration(17.25) == "17.25s"
    assert ratelimit._duration(60) == "1m0s"
    assert ratelimit._duration(-1) == "0ms"


# -- the counter is shared by processes --------------------------------------------

COUNTER_SCRIPT = """
import json, sys
import django
django.setup()
from proxy.ratelimit import rate_limit_count
name, window, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()  # both processes are set up: count at the same time
print(json.dumps([rate_limit_count(name=name, window=window) for _ in range(times)]))
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_counter_and_lose_no_increment(backend):
    """Two processes bump one counter at once: every count from 1 to 2N is seen once."""
    # given
    times = 100
    name = f"shared-{uuid.uuid4().hex[:12]}:api"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "autoskill_site.settings.base",
        "DJANGO_DEBUG": "1",
        "DATABASE_URL": _database_url(),
        "DATABASE_POOL": "0",
        "AUTOSKILL_RATE_LIMIT_REDIS_URL": REDIS_URL if backend == "redis" else "",
    }
    procs = [
        subprocess.Popen(  # noqa: S603 - our own script
            [sys.executable, "-c", COUNTER_SCRIPT, name, str(WINDOW), str(times)],
            cwd=django_settings.BASE_DIR,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        # when: both are set up before either counts
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    # then
    counts = []
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen == sorted(seen)  # each process sees its own counts rise
        counts += seen
    assert sorted(counts) == list(range(1, 2 * times + 1))
    if backend == "db":
        assert RateLimitWindow.objects.get(bucket=name).hits == 2 * times
