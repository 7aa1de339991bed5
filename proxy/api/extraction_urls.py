"""Routes of the extraction, conversation import, retrieval, vectors and capabilities API.

Every path starts with "autoskill/" (mounted under /v1/). Literal segments
(`simulate`, `latest`) come before the `<uuid:job_id>` route, which cannot match
them anyway, so a job id can never shadow them.
"""

from __future__ import annotations

from django.urls import path

from proxy.api.capabilities import CapabilitiesApi
from proxy.api.conversation_import import (
    ConversationImportApi,
    ConversationImportStatusApi,
)
from proxy.api.extraction_stream import extraction_events_stream
from proxy.api.extractions import (
    ExtractionDetailApi,
    ExtractionLatestApi,
    ExtractionsApi,
    ExtractionSimulateApi,
)
from proxy.api.retrieval_preview import RetrievalPreviewApi
from proxy.api.vectors import VectorsRebuildApi, VectorsStatusApi

urlpatterns = [
    path("autoskill/extractions", ExtractionsApi.as_view(), name="extractions"),
    path(
        "autoskill/extractions/simulate",
        ExtractionSimulateApi.as_view(),
        name="extraction-simulate",
    ),
    path(
        "autoskill/extractions/latest",
        ExtractionLatestApi.as_view(),
        name="extraction-latest",
    ),
    path(
        "autoskill/extractions/<uuid:job_id>",
        ExtractionDetailApi.as_view(),
        name="extraction-detail",
    ),
    path(
        "autoskill/extractions/<uuid:job_id>/events",
        extraction_events_stream,
        name="extraction-events",
    ),
    path(
        "autoskill/conversations/import",
        ConversationImportApi.as_view(),
        name="conversation-import",
    ),
    path(
        "autoskill/conversations/import/<str:import_id>",
        ConversationImportStatusApi.as_view(),
        name="conversation-import-status",
    ),
    path(
        "autoskill/retrieval/preview",
        RetrievalPreviewApi.as_view(),
        name="retrieval-preview",
    ),
    path("autoskill/vectors/status", VectorsStatusApi.as_view(), name="vectors-status"),
    path(
        "autoskill/vectors/rebuild", VectorsRebuildApi.as_view(), name="vectors-rebuild"
    ),
    path("autoskill/capabilities", CapabilitiesApi.as_view(), name="capabilities"),
]
