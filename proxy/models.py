"""API keys (hashed at rest, looked up by a keyed hash) and browser/terminal chat sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiKey(models.Model):
    """A bearer credential for the /v1 API; only its HMAC and a visible prefix are stored."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="Shown to identify the key."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    can_act_for_users = models.BooleanField(
        default=False,
        help_text="Trusted service key: may act for named sub-users namespaced under the owner.",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests per minute this key may make on each /v1 limit; empty: "
        "the server's AUTOSKILL_RATE_LIMIT_* settings, 0: unlimited.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(key_hash=""), name="apikey_hash_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RateLimitWindow(models.Model):
    """Requests one API key made in one fixed window, when no Redis is configured.

    `bucket` names the key (its prefix) and the limit counted; rows of past windows
    are deleted as new windows start (proxy/ratelimit.py).
    """

    bucket = models.CharField(max_length=64)
    window_start = models.BigIntegerField(help_text="Unix time the window began.")
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "window_start"], name="ratelimitwindow_unique"
            )
        ]
        indexes = [models.Index(fields=["window_start"], name="ratelimitwindow_start")]

    def __str__(self) -> str:
        return f"{self.bucket}@{self.window_start}: {self.hits}"


def default_chat_scope() -> str:
    """AUTOSKILL_SKILL_SCOPE, normalised (`common` means `library`)."""
    from retrieval.search import normalise_scope

    return normalise_scope(getattr(settings, "AUTOSKILL_SKILL_SCOPE", "all"))


def default_chat_top_k() -> int:
    return int(settings.AUTOSKILL_TOP_K)


def default_chat_min_score() -> float:
    return float(settings.AUTOSKILL_MIN_SCORE)


def default_chat_rewrite_mode() -> str:
    return str(settings.AUTOSKILL_REWRITE_MODE)


def default_chat_extract_mode() -> str:
    return str(settings.AUTOSKILL_EXTRACT_MODE)


def default_chat_extract_turn_limit() -> int:
    return int(settings.AUTOSKILL_EXTRACT_TURN_LIMIT)


# retrieval.search.MAX_TOP_K; not imported, so models load before the search stack.
CHAT_MAX_TOP_K = 200


class ChatScope(models.TextChoices):
    USER = "user"
    LIBRARY = "library"
    ALL = "all"


class ChatRewriteMode(models.TextChoices):
    NEVER = "never"
    AUTO = "auto"
    ALWAYS = "always"


class ChatExtractMode(models.TextChoices):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class ChatSession(models.Model):
    """One browser or terminal conversation of a user, with its retrieval settings.

    New sessions take their settings from the AUTOSKILL_* defaults; slash commands and
    the browser's controls change them per session. `turns_since_extraction` counts
    user turns since extraction last ran, for `extract_mode=auto`.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_sessions",
    )
    title = models.CharField(max_length=200, default="New chat")
    scope = models.CharField(
        max_length=16, choices=ChatScope.choices, default=default_chat_scope
    )
    top_k = models.PositiveSmallIntegerField(default=default_chat_top_k)
    min_score = models.FloatField(default=default_chat_min_score)
    rewrite_mode = models.CharField(
        max_length=8,
        choices=ChatRewriteMode.choices,
        default=default_chat_rewrite_mode,
    )
    extract_mode = models.CharField(
        max_length=8,
        choices=ChatExtractMode.choices,
        default=default_chat_extract_mode,
    )
    extract_turn_limit = models.PositiveIntegerField(
        default=default_chat_extract_turn_limit,
        help_text="In auto mode, extract once every this many user turns.",
    )
    turns_since_extraction = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(
                fields=["owner", "-updated_at"], name="chatsession_owner_recent"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=ChatScope.values), name="chatsession_scope_valid"
            ),
            models.CheckConstraint(
                condition=Q(rewrite_mode__in=ChatRewriteMode.values),
                name="chatsession_rewrite_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(extract_mode__in=ChatExtractMode.values),
                name="chatsession_extract_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(extract_turn_limit__gte=1),
                name="chatsession_extract_turn_limit_min",
            ),
            models.CheckConstraint(
                condition=Q(top_k__gte=1) & Q(top_k__lte=CHAT_MAX_TOP_K),
                name="chatsession_top_k_range",
            ),
            models.CheckConstraint(
                condition=Q(min_score__gte=0.0) & Q(min_score__lte=1.0),
                name="chatsession_min_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.owner_id})"


class ChatRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


class ChatMessageStatus(models.TextChoices):
    COMPLETE = "complete"
    STOPPED = "stopped", "Stopped by the user"
    ERROR = "error"


class ChatMessage(models.Model):
    """One message of a chat session, numbered by `seq` from 1.

    An assistant message carries its turn's `trace`: `{"retrieval": {original_query,
    rewritten_query, search_query, rewrite_reason, scope, top_k, min_score, hits: [{id,
    name, title, score, source, version, injected}], injected_ids, error, ...},
    "extraction": {job_id, status, ...}, "usage": {status}}`. A reply cut short by
    stop generation keeps its partial text with status `stopped`; an upstream failure
    keeps the partial text and the reason (`error`) with status `error`.
    """

    session = models.ForeignKey(
        ChatSession, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=ChatRole.choices)
    content = models.TextField(blank=True)
    status = models.CharField(
        max_length=16,
        choices=ChatMessageStatus.choices,
        default=ChatMessageStatus.COMPLETE,
    )
    error = models.CharField(max_length=500, blank=True)
    trace = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "seq"], name="chatmessage_unique_seq"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chatmessage_seq_min"),
            models.CheckConstraint(
                condition=Q(role__in=ChatRole.values), name="chatmessage_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ChatMessageStatus.values),
                name="chatmessage_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.role}"
