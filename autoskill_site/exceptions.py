"""The one error vocabulary: domain errors subclass ApplicationError."""

from __future__ import annotations


class ApplicationError(Exception):
    """A failure the caller can understand and act on; `code` is stable, `message` human."""

    code = "application_error"
    status = 400

    def __init__(self, message: str, *, extra: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class InvalidInput(ApplicationError):
    code = "invalid_input"
    status = 400


class Forbidden(ApplicationError):
    code = "forbidden"
    status = 403
