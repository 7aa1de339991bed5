"""POST /v1/autoskill/conversations/import and GET .../import/<id>: conversation imports as jobs.

The original ran every conversation's extraction inside the request (minutes for a
real archive) and accepted a path on the server's disk. Here the conversations
come in the request (JSON in the permissive shapes the importer understands, or
an uploaded .json/.jsonl file), a background task runs the importer, and the
caller polls the task for its report. No server path is ever read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.urls import reverse
from django_tasks import TaskResult, TaskResultStatus
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from autoskill_site.exceptions import ApplicationError, InvalidInput, NotFound
from autoskill_site.sanitize import without_nul
from proxy.api.extraction_common import AUTHENTICATION, PERMISSIONS, error_responses
from proxy.api.extraction_tasks import (
    conversations_import_task,
    remember_result,
    task_result_for,
    task_status,
)
from proxy.api.parsers import JSONParser

__all__ = ["ConversationImportApi", "ConversationImportStatusApi"]

# Wrapper keys the importer's discovery understands, in the order they are tried.
PAYLOAD_KEYS = (
    "conversations", "dialogues", "records", "items", "dataset", "data", "samples",
)  # fmt: skip
SERVER_PATH_KEYS = ("file_path", "path", "root_dir", "zip_path", "dir")
DEFAULT_MAX_BYTES = 20_000_000
MAX_MESSAGES_LIMIT = 100_000
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PayloadTooLarge(ApplicationError):
    code = "payload_too_large"
    status = 413


def max_import_bytes() -> int:
    return int(
        getattr(settings, "AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES)
    )


class ImportOptions(serializers.Serializer):
    """Options shared by JSON bodies and multipart forms."""

    hint = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    max_messages = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_MESSAGES_LIMIT,
        help_text="Keep the last N messages of each conversation (0 = all).",
    )
    max_messages_per_conversation = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_MESSAGES_LIMIT,
        help_text="The original's name for `max_messages`.",
    )
    continue_on_error = serializers.BooleanField(default=True)
    dry_run = serializers.BooleanField(
        default=False, help_text="Decide what would be extracted; store nothing."
    )


class ImportJsonInput(ImportOptions):
    """The documented JSON body; any one payload key is enough."""

    conversations = serializers.JSONField(required=False)
    data = serializers.JSONField(required=False)
    records = serializers.JSONField(required=False)
    messages = serializers.ListField(child=serializers.DictField(), required=False)
    user = serializers.CharField(
        required=False, help_text="Sub-user to act for (service API keys only)."
    )


class ImportUploadInput(ImportOptions):
    file = serializers.FileField(
        help_text="A .json or .jsonl file of conversations; what cannot be read "
        "is listed in the report."
    )


def _json_payload(body: dict[str, Any]) -> tuple[str, str]:
    for key in SERVER_PATH_KEYS:
        if body.get(key):
            raise serializers.ValidationError(
                {
                    key: "Server paths are not accepted: upload the file (multipart "
                    "field `file`) or send the conversations in the body."
                }
            )
    # A present key is the payload even when empty: the report then says that no
    # conversation was found, which is the truth about what was sent.
    for key in PAYLOAD_KEYS:
        if key in body:
            payload: Any = body[key]
            break
    else:
        if "messages" not in body:
            raise serializers.ValidationError(
                {
                    "conversations": "Send `conversations` (or data, records, messages...)."
                }
            )
        payload = {"messages": body["messages"]}
    return json.dumps(without_nul(payload), ensure_ascii=False), "request.json"


def _upload_payload(upload: Any) -> tuple[str, str]:
    """The upload's text and a safe file name for it.

    Content is not judged here: the importer reads .json, .jsonl and misnamed
    exports (JSON first, then JSON lines) and reports what it cannot read, per
    file and line, in the job's report.
    """
    name = _UNSAFE_NAME.sub("_", re.split(r"[/\\]", str(upload.name or ""))[-1])
    name = name.lstrip(".")[:100] or "upload.json"
    if upload.size > max_import_bytes():
        raise PayloadTooLarge(
            f"The file is larger than {max_import_bytes()} bytes "
            "(AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES)."
        )
    # Task arguments are JSON text; a stray invalid byte becomes U+FFFD and the
    # importer then reports the line it spoils, instead of the whole upload failing.
    text = upload.read().decode("utf-8-sig", errors="replace")
    return without_nul(text), name


def _error_text(result: TaskResult) -> str | None:
    if result.status != TaskResultStatus.FAILED:
        return None
    if not result.errors:
        return "The import failed."
    # The traceback's last line is "Class: message"; the frames above it are
    # server internals the caller has no use for.
    lines = [ln for ln in result.errors[-1].traceback.strip().splitlines() if ln]
    return (lines[-1] if lines else result.errors[-1].exception_class_path)[:500]


def import_payload(result: TaskResult) -> dict[str, Any]:
    finished = result.status == TaskResultStatus.SUCCESSFUL
    return {
        "object": "conversation_import",
        "id": str(result.id),
        "status": task_status(result),
        "enqueued_at": result.enqueued_at,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "report": result.return_value if finished else None,
        "error": _error_text(result),
    }


class ConversationImportSerializer(serializers.Serializer):
    object = serializers.CharField(default="conversation_import")
    id = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["scheduled", "running", "completed", "failed"]
    )
    enqueued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    report = inline_serializer(
        "ConversationImportReport",
        {
            "kind": serializers.CharField(),
            "path": serializers.CharField(help_text="The uploaded file's name."),
            "dry_run": serializers.BooleanField(),
            "total": serializers.IntegerField(),
            "processed": serializers.IntegerField(),
            "skipped": serializers.IntegerField(),
            "skipped_reasons": serializers.DictField(child=serializers.IntegerField()),
            "failed": serializers.IntegerField(),
            "read_errors": serializers.IntegerField(),
            "not_run": serializers.IntegerField(),
            "stopped": serializers.BooleanField(),
            "upserted_count": serializers.IntegerField(),
            "skills": serializers.ListField(child=serializers.DictField()),
            "outcomes": serializers.DictField(child=serializers.IntegerField()),
            "errors": serializers.ListField(child=serializers.DictField()),
            "per_file": serializers.DictField(),
            "elapsed_s": serializers.FloatField(),
        },
        allow_null=True,
    )
    error = serializers.CharField(allow_null=True)


class ConversationImportApi(APIView):
    """Queue an import of conversations sent in the body or uploaded as a file."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="autoskill_conversations_import",
        summary="Import conversations (background job)",
        tags=["conversations"],
        request={
            "application/json": ImportJsonInput,
            "multipart/form-data": ImportUploadInput,
        },
        responses={
            202: OpenApiResponse(
                ConversationImportSerializer,
                description="Queued; poll the `Location` for the report.",
            ),
            **error_responses(400, 401, 403, 413, 415),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            return self._queue(request)
        finally:
            # DRF's multipart parser keeps uploads outside Django's request, which
            # would close them; close them here so no temporary file outlives us.
            for _, files in request.FILES.lists():
                for upload in files:
                    upload.close()

    def _queue(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise InvalidInput("Send a JSON object or a multipart `file` upload.")
        upload = request.FILES.get("file")
        form = ImportUploadInput if upload is not None else ImportJsonInput
        options = form(data=body)
        options.is_valid(raise_exception=True)
        args = options.validated_data
        if upload is not None:
            text, name = _upload_payload(upload)
        else:
            text, name = _json_payload(body)
            if len(text.encode("utf-8")) > max_import_bytes():
                raise PayloadTooLarge(
                    f"The conversations are larger than {max_import_bytes()} bytes."
                )
        max_messages = args.get("max_messages")
        if max_messages is None:
            max_messages = args.get("max_messages_per_conversation", 0)
        result = conversations_import_task.enqueue(
            user_id=request.user.pk,
            text=text,
            file_name=name,
            hint=(args.get("hint") or "").strip() or None,
            max_messages=max_messages,
            continue_on_error=args["continue_on_error"],
            dry_run=args["dry_run"],
        )
        remember_result(result)
        response = Response(import_payload(result), status=status.HTTP_202_ACCEPTED)
        response["Location"] = reverse(
            "proxy:conversation-import-status", args=[str(result.id)]
        )
        return response


class ConversationImportStatusApi(APIView):
    """The status and, once finished, the report of one of the caller's imports."""

    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS

    @extend_schema(
        operation_id="autoskill_conversations_import_status",
        summary="Status and report of a conversation import",
        tags=["conversations"],
        responses={
            200: OpenApiResponse(ConversationImportSerializer),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, import_id: str) -> Response:
        result = task_result_for(conversations_import_task, import_id)
        if result is None or result.kwargs.get("user_id") != request.user.pk:
            raise NotFound("Conversation import not found.")
        return Response(import_payload(result))
