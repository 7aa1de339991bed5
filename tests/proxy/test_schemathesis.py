"""Fuzz every operation of our OpenAPI document: no 5xx, and answers match the document.

The document is fetched from the running ASGI application (the one daphne serves), and
every case goes through it in process: async views, SSE streams and DRF views alike.
The application answers on its own event-loop thread, so the tests commit their data
(`transaction=True`) for that thread to see it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from autoskill_site.asgi import application
from autoskill_site.providers.llm_config import llm_cache_clear
from extraction.models import JobTrigger
from extraction.services import extraction_submit
from proxy.auth import api_key_create
from tests.factories import make_skill

# schemathesis' in-process ASGI client can end a request before Django's handler
# closes it (a pending send task), leaving the request body's spooled temporary file
# to the garbage collector. Only that warning is ignored, only here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
# Loaded at collection, before pytest-django allows the "testserver" host.
schema = schemathesis.openapi.from_asgi(
    "/v1/autoskill/openapi.json", application, headers={"Host": "localhost"}
)
# Small on purpose: ~30 operations x 2 runs must stay a few seconds of the suite.
MAX_EXAMPLES = 20
PUBLIC_PATHS = {"/health", "/ready"}
fuzz = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: a failure always reproduces
)


@pytest.fixture
def upstream(settings, fake_openai) -> Iterator[Any]:
    """Chat and embeddings go to the fake OpenAI server on loopback."""
    settings.AUTOSKILL_LLM_PROVIDER = "generic"
    settings.AUTOSKILL_LLM_BASE_URL = fake_openai.base_url
    settings.AUTOSKILL_LLM_MODEL = "fake-chat"
    settings.AUTOSKILL_LLM_API_KEY = "sk-fake"
    settings.AUTOSKILL_LLM_RETRIES = 0
    # Valid as a chat reply and as an extraction answer ("no candidate"), so a 5xx
    # can only be the server's own fault, never the fake model's.
    fake_openai.chat_text = '{"skills": []}'
    yield fake_openai
    llm_cache_clear()


@pytest.fixture
def owned(user, on_commit) -> dict[str, str]:
    """Real objects of the caller, so fuzzed requests also reach existing ids."""
    with on_commit():
        skill = make_skill(owner=user, title="Deploy checklist")
        job, _ = extraction_submit(
            user=user,
            messages=[
                {"role": "user", "content": "Always write release notes as bullets."},
                {"role": "assistant", "content": "Noted."},
            ],
            trigger=JobTrigger.PROXY_EXTRACT_NOW,
        )
    return {
        "/v1/autoskill/skills/": str(skill.pk),
        "/v1/autoskill/extractions/": str(job.pk),
    }


def _routes(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def _use_real_ids(case: Any, owned: dict[str, str]) -> None:
    """Half of the cases (chosen by the drawn value, so shrinking stays stable) get a real id."""
    if case.operation.path.endswith("/export") and case.query:
        # schemathesis' ASGI client stops reading a streamed FileResponse early, which
        # leaks the zip's temporary file; the zip is tested through the Django client
        # (tests/proxy/api/test_skills_transfer.py, test_isolation.py).
        if str(case.query.get("format", "")).strip().lower() == "zip":
            case.query["format"] = "md"
    for name, value in list((case.path_parameters or {}).items()):
        digest = hashlib.sha256(repr(value).encode()).digest()
        if digest[0] % 2:
            continue
        for prefix, real_id in owned.items():
            if case.operation.path.startswith(prefix):
                case.path_parameters[name] = real_id


# Request-side checks (does the server accept exactly what the document allows?) run
# on the operations whose description lives in proxy/schema*.py. The REST API's own
# serializers and extend_schema describe the rest; their findings are in the report.
STRICT_PATHS = {
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/models",
    "/v1/autoskill/extractions/{job_id}/events",
}
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    missing_required_header,
    unsupported_method,
]


def _call_and_validate(case: Any, **kwargs: Any) -> Any:
    """Run the checks, tolerating one documented leniency: DRF coerces JSON types.

    DRF fields accept `"3"` for an integer and `false` for a float (0.0), as Django
    forms do; schemathesis counts such a request as schema-violating data that should
    have been a 400. Every other failure, including other accepted invalid data
    (missing required fields, out-of-range values, wrong enums), still fails.
    """
    strict = case.operation.path in STRICT_PATHS
    try:
        return case.call_and_validate(
            checks=None if strict else RESPONSE_CHECKS, **kwargs
        )
    except FailureGroup as group:
        remaining = [
            failure
            for failure in group.exceptions
            if not (
                isinstance(failure, AcceptedNegativeData)
                and "Incorrect type" in failure.message
                and failure.status_code < 500
            )
        ]
        if remaining:
            raise FailureGroup(remaining, str(group)) from None
        return None


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@fuzz
def test_every_operation_with_a_key(case, user, owned, upstream):
    _use_real_ids(case, owned)
    key = api_key_create(owner=user).secret
    # ignored_auth would re-send with a broken session cookie while this valid key
    # still rides along; the keyless test below checks every 401 directly instead.
    _call_and_validate(
        case,
        headers={"Authorization": f"Bearer {key}"},
        excluded_checks=[ignored_auth],
    )


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@fuzz
def test_every_operation_without_a_key_is_a_401(case, upstream):
    response = case.call()
    case.validate_response(response)
    # Coverage cases also try undeclared methods: those are 405 before any auth.
    documented_method = case.method.upper() == case.operation.method.upper()
    if documented_method and case.operation.path not in PUBLIC_PATHS:
        # An id the URL pattern rejects (`<uuid:job_id>`) never reaches a view.
        expected = 401 if _routes(case.formatted_path) else 404
        assert response.status_code == expected, response.text[:300]
        code = "invalid_api_key" if expected == 401 else "unknown_url"
        assert response.json()["error"]["code"] == code
