"""The OpenAPI fuzz of tests/proxy/test_schemathesis.py, as the browser: a session.

The document declares two ways in, `ApiKeyAuth` and `cookieAuth`; the main fuzz
covers the key (and no credential at all). This one sends every operation with a
logged-in session cookie and a valid CSRF pair, as the browser app does: no 5xx,
and every answer as documented. The OpenAI-compatible endpoints take keys only, so
a session there is a 401 envelope. Fewer examples than the main run: the server
code behind both credentials is the same, only the way in differs.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth

from tests.proxy.test_schemathesis import (  # noqa: F401 - fixtures by name
    _call_and_validate,
    _use_real_ids,
    owned,
    schema,
    upstream,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
OVERRIDDEN = (ParameterLocation.HEADER, ParameterLocation.COOKIE)
KEY_ONLY = {"/v1/chat/completions", "/v1/embeddings", "/v1/models"}
PUBLIC = {"/health", "/ready"}
# Any 32 letters: Django compares the header with the cookie, both unmasked.
CSRF = "S" * 32
fuzz = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _as_browser(case: Any, user: Any) -> dict[str, str]:
    """Put the session cookie and CSRF pair on `case`; the headers to call with.

    Schemathesis fills the declared schemes with empty credentials
    (`Authorization: Bearer `, `sessionid=`); an explicit key wins over a session,
    so both are replaced, in place (reassigning would mark the case as edited).
    """
    client = Client()
    client.force_login(user)
    for name in [n for n in case.headers or {} if n.lower() == "authorization"]:
        del case.headers[name]
    if case.cookies is None:
        case.cookies = {}
    case.cookies.update(
        {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF}
    )
    return {"X-CSRFToken": CSRF}


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@fuzz
def test_every_operation_with_a_browser_session(case, user, owned, upstream):  # noqa: F811
    if any(case.meta.is_negative_at(where) for where in OVERRIDDEN):
        # The credentials replace what was drawn there, so a deliberately broken
        # header or cookie would become a valid request that must be "rejected".
        return
    if not case.meta.is_negative_at(ParameterLocation.PATH):
        # Likewise a real id in place of a deliberately malformed one.
        _use_real_ids(case, owned)
    if case.operation.path.endswith("/events") and not case.meta.is_negative_at(
        ParameterLocation.QUERY
    ):
        # The real job never finishes here: a stream would hold for its timeout.
        if case.query is None:
            case.query = {}
        case.query["timeout_s"] = 1
    response = _call_and_validate(
        case, headers=_as_browser(case, user), excluded_checks=[ignored_auth]
    )
    path = case.operation.path
    if response is None or case.method.upper() != case.operation.method.upper():
        return
    if path in KEY_ONLY:
        assert response.status_code == 401, response.text[:300]
    elif path not in PUBLIC:
        # The session got in: never the 401 of a missing credential (nor a CSRF 403).
        assert response.status_code != 401, response.text[:300]
        assert "CSRF" not in response.text, response.text[:300]
