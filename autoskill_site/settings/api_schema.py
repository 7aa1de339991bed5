"""drf-spectacular settings: how the OpenAPI document describes the API (no environment)."""

# OpenAPI document at /v1/autoskill/openapi.json, Swagger UI at /v1/autoskill/docs.
SPECTACULAR_SETTINGS = {
    "TITLE": "AutoSkill Studio API",
    "DESCRIPTION": (
        "OpenAI-compatible proxy (chat completions, embeddings, models) with skill "
        "retrieval and injection, and the AutoSkill REST API under /v1/autoskill/. "
        "Authenticate with `Authorization: Bearer ask_...`. Every /v1 error is an "
        'OpenAI error envelope; lists are {"object": "list", "data": [...]}.'
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.0.3",
    # The document describes the whole API to everyone; it holds no secrets, and the
    # OpenAI-compatible clients and fuzzers that read it have no session.
    "SERVE_PUBLIC": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/v1/autoskill",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # validatorUrl None: Swagger UI would otherwise send the document to swagger.io.
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "persistAuthorization": True,
        "validatorUrl": None,
    },
    # Skills and jobs both have a "status" field with different choices.
    "ENUM_NAME_OVERRIDES": {
        "SkillStatusEnum": "skills.models.SkillStatus",
        # The job API lists bare values (choices=JobStatus.values), labels = values.
        "JobStatusEnum": "extraction.models.JobStatus.values",
    },
    "PREPROCESSING_HOOKS": ["proxy.schema.preprocess_v1_only"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "proxy.schema.postprocess_v1_schema",
    ],
    # proxy/schema.py refers to both by name; tests/proxy/test_openapi.py checks the
    # envelope against what proxy/errors.py really renders.
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "ask_<prefix>_<secret>",
                "description": "An API key (python manage.py create_api_key).",
            }
        },
        "schemas": {
            "OpenAIError": {
                "type": "object",
                "description": "The OpenAI error envelope every /v1 path answers errors in.",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {
                            "message": {"type": "string"},
                            "type": {"type": "string"},
                            "param": {"type": "string", "nullable": True},
                            "code": {"type": "string", "nullable": True},
                        },
                        "required": ["message", "type", "param", "code"],
                    }
                },
                "required": ["error"],
            }
        },
    },
}
