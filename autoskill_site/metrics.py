"""Prometheus metrics: what the app counts, and GET /metrics.

Request counters, the latency histograms and upstream errors live in the process that
counted them, or, when PROMETHEUS_MULTIPROC_DIR is set, in files every process of the
host shares, so a scrape of any daphne process reports the sum of all of them
(prometheus-client's multiprocess mode; the folder must be emptied before the
processes start, which `manage.py serve` does). Extraction jobs by status are read
from the database at scrape time with one aggregate query, so every process reports
the same truth and nothing has to be counted on the job path.

Like `providers/`, a leaf: the apps' models are imported inside the functions that
read them, so the providers may count their errors here.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = [
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "PROXY_OVERHEAD",
    "UPSTREAM_ERRORS",
    "count_upstream_error",
    "metrics_text",
    "metrics_view",
]

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
# Seconds; streamed chats last long, so the top buckets reach past a minute.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "autoskill_http_requests",
    "HTTP requests answered, by method, URL route and status.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "autoskill_http_request_duration_seconds",
    "Time from the request to the last byte of its answer (streams included).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PROXY_OVERHEAD = Histogram(
    "autoskill_proxy_overhead_seconds",
    "Time the proxy added to a chat completion (x-autoskill-overhead-ms).",
    buckets=OVERHEAD_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_ERRORS = Counter(
    "autoskill_upstream_errors",
    "Failed calls to a model API, by provider and reason (an HTTP status, "
    "timeout, network or malformed).",
    ["provider", "reason"],
    registry=REGISTRY,
)


def count_upstream_error(*, provider: str, reason: str) -> None:
    """One failed model call; never raises, so an error path stays an error path."""
    try:
        UPSTREAM_ERRORS.labels(provider=provider or "unknown", reason=reason).inc()
    except Exception:  # noqa: BLE001 - metrics must not replace the real error
        logger.debug("Could not count an upstream error", exc_info=True)


def method_label(method: str | None) -> str:
    """The method, or OTHER: a client must not mint label values at will."""
    value = (method or "").upper()
    return value if value in KNOWN_METHODS else "OTHER"


class JobsCollector:
    """Extraction jobs by status, and whether the database answered, at scrape time."""

    def describe(self) -> Iterator[Metric]:
        # Describing must not query: registering happens at import.
        yield GaugeMetricFamily(
            "autoskill_extraction_jobs", "Extraction jobs by status.", labels=["status"]
        )
        yield GaugeMetricFamily(
            "autoskill_database_up", "1 when the scrape could read the database."
        )

    def collect(self) -> Iterator[Metric]:
        from django.db import DatabaseError, close_old_connections
        from django.db.models import Count

        from extraction.models import ExtractionJob, JobStatus

        jobs = GaugeMetricFamily(
            "autoskill_extraction_jobs", "Extraction jobs by status.", labels=["status"]
        )
        try:
            counts = dict(
                ExtractionJob.objects.order_by()
                .values_list("status")
                .annotate(count=Count("pk"))
            )
        except DatabaseError:
            # A broken connection must not stay in this thread for the next scrape.
            close_old_connections()
            logger.warning("Metrics could not read extraction jobs", exc_info=True)
            up = 0
        else:
            up = 1
            for status in JobStatus.values:
                jobs.add_metric([status], counts.get(status, 0))
            yield jobs
        yield GaugeMetricFamily(
            "autoskill_database_up",
            "1 when the scrape could read the database.",
            value=up,
        )


_jobs = JobsCollector()
REGISTRY.register(_jobs)
# Memory and CPU of this process (with several processes, each scrapes its own).
ProcessCollector(registry=REGISTRY)


def metrics_text() -> bytes:
    """Every metric in the Prometheus text format."""
    if getattr(settings, "AUTOSKILL_METRICS_MULTIPROC_DIR", ""):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_jobs)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def _direct_loopback(request: HttpRequest) -> bool:
    """A client on this host talking to daphne directly, not through a local proxy.

    Behind nginx on the same host every request comes from 127.0.0.1, so a request
    carrying forwarding headers never counts as local.
    """
    if any(request.headers.get(name) for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), token.encode("utf-8")
    )


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = getattr(settings, "AUTOSKILL_METRICS_TOKEN", "")
    if token and _bearer_matches(request, token):
        return None
    if not token and _direct_loopback(request):
        return None
    if _is_staff(request):
        return None
    if token:
        response = HttpResponse(
            "Metrics need 'Authorization: Bearer <AUTOSKILL_METRICS_TOKEN>'.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(
        "Metrics are served to this host only (or to staff). Set "
        "AUTOSKILL_METRICS_TOKEN to let a scraper elsewhere read them.\n",
        status=403,
        content_type="text/plain; charset=utf-8",
    )


# csrf_exempt: an unknown method must meet the 405 below, not CSRF's 403.
@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text; who may read it is decided by `_refusal`."""
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(
            "Use GET.\n", status=405, content_type="text/plain; charset=utf-8"
        )
        response["Allow"] = "GET, HEAD"
        return response
    if refused := _refusal(request):
        return refused
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
