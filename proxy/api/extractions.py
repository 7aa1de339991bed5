"""Extraction endpoints: extract now, simulate, list, latest, get (the stream is in extraction_stream)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from autoskill_site.exceptions import NotFound
from autoskill_site.providers.llm import LLMError
from extraction.candidate import CandidateError
from extraction.events import event_payload
from extraction.extract import MalformedAnswer
from extraction.models import ExtractionJob, JobEvent, JobStatus, JobTrigger
from extraction.services import extraction_simulate, extraction_submit
from proxy.api.extraction_common import (
    AUTHENTICATION,
    PERMISSIONS,
    ConversationInput,
    UpstreamUnavailable,
    error_responses,
)
from proxy.api.extraction_payloads import (
    ExtractionEventSerializer,
    ExtractionJobDetailSerializer,
    ExtractionJobSerializer,
    job_detail,
    job_summary,
    latest_event,
)
from proxy.api.pagination import PAGINATION_PARAMETERS, list_envelope, paginate
from proxy.api.retrieval_preview import reference_from, retrieve_for_messages

__all__ = [
    "ExtractionDetailApi",
    "ExtractionLatestApi",
    "ExtractionSimulateApi",
    "ExtractionsApi",
    "owned_job",
]

MAX_HINT_CHARS = 2000


def owned_job(*, user: Any, job_id: Any) -> ExtractionJob:
    """The caller's job; another user's job is as absent as a missing one."""
    job = ExtractionJob.objects.filter(pk=job_id, user=user).first()
    if job is None:
        raise NotFound("Extraction job not found.")
    return job


class ExtractionInput(ConversationInput):
    hint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_HINT_CHARS,
        help_text="What to focus on (the original's extraction requirements).",
    )


def _reference(user: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Top-1 retrieval in the requested scope: extraction's identity context.

    An empty dict (not None) tells the extraction service that retrieval already
    ran and found nothing, so it does not search again in another scope.
    """
    if not args["query"]:
        return {}
    retrieval = retrieve_for_messages(
        user=user, messages=args["messages"], query=args["query"],
        scope=args["scope"], top_k=1, min_score=args.get("min_score"),
    )  # fmt: skip
    return reference_from(retrieval)


_EVENT_ENVELOPE = inline_serializer(
    "ExtractionEventEnvelope",
    {
        "object": serializers.CharField(default="extraction_event"),
        "data": ExtractionEventSerializer(allow_null=True),
        "created": serializers.BooleanField(
            required=False, help_text="False when this window already had a job."
        ),
    },
)


class ExtractionsApi(APIView):
    """/v1/autoskill/extractions: POST queues an extraction now; GET lists my jobs."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_extractions_create",
        summary="Extract now (queue a job)",
        tags=["extractions"],
        request=ExtractionInput,
        responses={
            202: OpenApiResponse(_EVENT_ENVELOPE, description="A new job was queued."),
            200: OpenApiResponse(
                _EVENT_ENVELOPE,
                description="This window already has a job; its latest event.",
            ),
            **error_responses(400, 401, 403, 409),
        },
    )
    def post(self, request: Request) -> Response:
        data = ExtractionInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        job, created = extraction_submit(
            user=request.user,
            messages=args["messages"],
            trigger=JobTrigger.PROXY_EXTRACT_NOW,
            hint=args.get("hint") or None,
            reference=_reference(request.user, args),
            source={"channel": "proxy_api", "endpoint": "extractions"},
        )
        return Response(
            {
                "object": "extraction_event",
                "data": latest_event(job),
                "created": created,
            },
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="autoskill_extractions_list",
        summary="List my extraction jobs",
        tags=["extractions"],
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(JobStatus.values),
                description="Only jobs in this status.",
            ),
            OpenApiParameter(
                "trigger",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(JobTrigger.values),
                description="Only jobs started by this trigger.",
            ),
        ],
        responses={
            200: list_envelope(ExtractionJobSerializer, name="ExtractionJobList"),
            **error_responses(400, 401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        jobs = ExtractionJob.objects.filter(user=request.user)
        for name, choices in (("status", JobStatus), ("trigger", JobTrigger)):
            value = request.query_params.get(name)
            if value in (None, ""):
                continue
            if value not in choices.values:
                raise serializers.ValidationError(
                    {name: f"Must be one of {', '.join(choices.values)}."}
                )
            jobs = jobs.filter(**{name: value})
        return paginate(
            request, jobs, serialize=job_summary, order=("-created_at", "-pk")
        )


class ExtractionSimulateApi(APIView):
    """POST /v1/autoskill/extractions/simulate: what extraction would do; nothing stored."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_extractions_simulate",
        summary="Simulate an extraction (dry run)",
        tags=["extractions"],
        request=ExtractionInput,
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "ExtractionSimulation",
                    {
                        "object": serializers.CharField(
                            default="extraction_simulation"
                        ),
                        "user": serializers.CharField(),
                        "outcome": serializers.CharField(
                            help_text="no_candidate, added, merged or discarded."
                        ),
                        "candidate": serializers.DictField(allow_null=True),
                        "decision": serializers.DictField(allow_null=True),
                        "reference": serializers.DictField(allow_null=True),
                        "llm": serializers.DictField(),
                        "window_hash": serializers.CharField(),
                    },
                ),
                description="The candidate and the maintenance decision.",
            ),
            **error_responses(400, 401, 403, 409, 502),
        },
    )
    def post(self, request: Request) -> Response:
        data = ExtractionInput(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        reference = _reference(request.user, args)
        try:
            report = extraction_simulate(
                user=request.user,
                messages=args["messages"],
                hint=args.get("hint") or None,
                reference=reference,
            )
        except LLMError as exc:
            raise UpstreamUnavailable(f"The extraction model failed: {exc}") from exc
        except ImproperlyConfigured as exc:
            raise UpstreamUnavailable(
                f"The extraction model is not configured: {exc}"
            ) from exc
        except (CandidateError, MalformedAnswer) as exc:
            raise UpstreamUnavailable(
                f"The extraction model's answer was unusable: {exc}"
            ) from exc
        return Response(
            {
                **report,
                "user": request.user.get_username(),
                "reference": reference or None,
            }
        )


class ExtractionLatestApi(APIView):
    """GET /v1/autoskill/extractions/latest: the caller's newest job event, or null."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_extractions_latest",
        summary="My latest extraction event",
        tags=["extractions"],
        responses={
            200: OpenApiResponse(
                _EVENT_ENVELOPE, description="`data` is null when there is none."
            ),
            **error_responses(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        event = (
            JobEvent.objects.filter(user=request.user)
            .select_related("job")
            .order_by("-pk")
            .first()
        )
        return Response(
            {
                "object": "extraction_event",
                "data": event_payload(event) if event else None,
            }
        )


class ExtractionDetailApi(APIView):
    """GET /v1/autoskill/extractions/<job_id>: decision, outcome, skills and events."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_extractions_retrieve",
        summary="One of my extraction jobs",
        tags=["extractions"],
        responses={
            200: OpenApiResponse(
                ExtractionJobDetailSerializer, description="The job and its events."
            ),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, job_id: Any) -> Response:
        return Response(job_detail(owned_job(user=request.user, job_id=job_id)))
