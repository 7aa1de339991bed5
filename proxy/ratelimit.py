"""Requests per API key per minute, counted where every server process sees the count.

Fixed windows on the clock's minutes: one counter per key, limit and minute. With a
Redis URL (AUTOSKILL_RATE_LIMIT_REDIS_URL, by default REDIS_URL) the counter is an
INCR plus EXPIRE in one MULTI/EXEC pipeline; without one it is a database row bumped
by a single `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` (SQLite >= 3.35 and
PostgreSQL), so concurrent processes never lose an increment. Fixed rather than
sliding: one counter and one round trip per request, and an exact Retry-After. The
price is that a client can fit up to twice its limit into the seconds around a minute
boundary, which is fine for what this is for: keeping one runaway client from
starving the others and the upstream budget.

`api_key_authenticate` calls `rate_limit_check` once it holds a live key, so every
use of a key (the OpenAI views, the DRF API, the SSE stream) is counted inside the
thread hop the request already makes. `OpenAIErrorMiddleware` opens a
`rate_limit_scope` per /v1 request: it names the limit the path counts against (chat
completions have their own) and carries the decision back for the x-ratelimit-*
headers. A refused request raises `RateLimited`, answered as OpenAI does: 429 with
`Retry-After`, type `requests` and code `rate_limit_exceeded`.

Browser sessions have no key and are not counted here; a service key's sub-users share
their key's limit. If Redis cannot be reached (or the counter query fails) the request
goes through and a warning is logged: the limiter must never be what takes the API down.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponseBase, JsonResponse

from autoskill_site.exceptions import ApplicationError
from proxy.errors import error_body
from proxy.models import ApiKey, RateLimitWindow

__all__ = [
    "CHAT",
    "GENERAL",
    "RateDecision",
    "RateLimited",
    "rate_limit_annotate",
    "rate_limit_check",
    "rate_limit_count",
    "rate_limit_scope",
]

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
CHAT = "chat"
GENERAL = "api"
CHAT_PATH = "/v1/chat/completions"
REDIS_PREFIX = "autoskill:ratelimit:"
# A limiter that cannot count waits this long at most before letting the request in.
REDIS_TIMEOUT_SECONDS = 0.5
_WARN_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class RateDecision:
    """One counted request: `used` includes it, `reset_after` is seconds to the next window."""

    limit: int
    used: int
    reset_after: float

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_after))

    def headers(self) -> dict[str, str]:
        """OpenAI's names; the reset is a duration like theirs ("17.25s", "1m0s")."""
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": _duration(self.reset_after),
        }


class RateLimited(ApplicationError):
    """The key has used up its requests for this minute."""

    code = "rate_limit_exceeded"
    status = 429
    error_type = "requests"  # what OpenAI sends for a requests-per-minute limit

    def __init__(self, decision: RateDecision, *, prefix: str) -> None:
        used = min(decision.used - 1, decision.limit)
        super().__init__(
            f"Rate limit reached for requests per min (RPM) on API key {prefix}: "
            f"Limit {decision.limit}, Used {used}, Requested 1. "
            f"Please try again in {decision.retry_after}s."
        )
        self.decision = decision

    @property
    def headers(self) -> dict[str, str]:
        return {
            **self.decision.headers(),
            "Retry-After": str(self.decision.retry_after),
        }

    def response(self) -> JsonResponse:
        body = error_body(429, self.message, code=self.code, kind=self.error_type)
        response = JsonResponse(body, status=429)
        for name, value in self.headers.items():
            response[name] = value
        return response


@dataclass
class _Scope:
    bucket: str
    decision: RateDecision | None = None


_scope: ContextVar[_Scope | None] = ContextVar("autoskill_rate_scope", default=None)


@contextmanager
def rate_limit_scope(*, path: str) -> Iterator[_Scope]:
    """The limit a request's key counts against, and its decision once counted.

    A mutable holder in a context variable: asgiref copies the context into the
    thread that authenticates, and the holder it finds there is this same object.
    """
    scope = _Scope(bucket=CHAT if path.rstrip("/") == CHAT_PATH else GENERAL)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def rate_limit_annotate(response: HttpResponseBase, scope: _Scope) -> HttpResponseBase:
    """Add the x-ratelimit-* headers of the request's decision, if a key was counted."""
    if scope.decision is not None:
        for name, value in scope.decision.headers().items():
            if not response.has_header(name):
                response[name] = value
    return response


def limit_for(*, api_key: ApiKey, bucket: str) -> int:
    """Requests per minute `api_key` may make on `bucket`; 0 means no limit."""
    if api_key.rate_limit_per_minute is not None:
        return int(api_key.rate_limit_per_minute)
    general = int(getattr(settings, "AUTOSKILL_RATE_LIMIT_PER_MINUTE", 0))
    if bucket == CHAT:
        return int(getattr(settings, "AUTOSKILL_RATE_LIMIT_CHAT_PER_MINUTE", general))
    return general


def rate_limit_check(
    *, api_key: ApiKey, now: float | None = None
) -> RateDecision | None:
    """Count one request of `api_key`; raise RateLimited past its limit.

    None when the key is not limited or the counter could not be reached.
    """
    scope = _scope.get()
    bucket = scope.bucket if scope is not None else GENERAL
    limit = limit_for(api_key=api_key, bucket=bucket)
    if limit <= 0:
        return None
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    used = rate_limit_count(name=f"{api_key.prefix}:{bucket}", window=window)
    if used is None:
        return None
    decision = RateDecision(
        limit=limit, used=used, reset_after=window + WINDOW_SECONDS - now
    )
    if scope is not None:
        scope.decision = decision
    if not decision.allowed:
        raise RateLimited(decision, prefix=api_key.prefix)
    return decision


def rate_limit_count(*, name: str, window: int) -> int | None:
    """Add one to counter `name` of the window starting at `window`; the new count."""
    url = getattr(settings, "AUTOSKILL_RATE_LIMIT_REDIS_URL", "")
    try:
        if url:
            return _count_redis(url, name, window)
        return _count_db(name, window)
    except (redis.RedisError, DatabaseError) as exc:
        _warn(f"Rate limit not counted ({type(exc).__name__}: {exc}); request let in.")
        return None


@functools.cache
def _redis_client(url: str) -> redis.Redis:
    # Thread-safe (a connection pool), shared by every request thread of the process.
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


def _count_redis(url: str, name: str, window: int) -> int:
    key = f"{REDIS_PREFIX}{name}:{window}"
    with _redis_client(url).pipeline(transaction=True) as pipe:
        pipe.incr(key)
        # Two windows, so a process whose clock runs a little late still finds it.
        pipe.expire(key, 2 * WINDOW_SECONDS)
        used, _ = pipe.execute()
    return int(used)


def _count_db(name: str, window: int) -> int:
    table = connection.ops.quote_name(RateLimitWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, window_start, hits) VALUES (%s, %s, 1) "  # noqa: S608 - the table name is ours
            f"ON CONFLICT (bucket, window_start) DO UPDATE SET hits = {table}.hits + 1 "
            "RETURNING hits",
            [name, window],
        )
        used = int(cursor.fetchone()[0])
    if used == 1:
        # A key's first request of a minute prunes every finished window but the last
        # (kept for processes whose clock lags), so the table holds ~2 rows per key.
        RateLimitWindow.objects.filter(
            window_start__lt=window - WINDOW_SECONDS
        ).delete()
    return used


_last_warning = [0.0]


def _warn(message: str) -> None:
    # At most one line a minute: a Redis outage would otherwise log every request.
    now = time.monotonic()
    if now - _last_warning[0] >= _WARN_EVERY_SECONDS:
        _last_warning[0] = now
        logger.warning(message)


def _duration(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    minutes, millis = divmod(millis, 60_000)
    rest = f"{millis / 1000:g}s"
    return f"{minutes}m{rest}" if minutes else rest
