"""The one exception both SDK flavours raise for a failed operation."""

from __future__ import annotations


class AutoSkillError(Exception):
    """A refused or failed operation: `status` is the HTTP-style status, `code` stable.

    The in-process facade maps the service layer's errors onto the same shape as the
    HTTP client's OpenAI error envelopes, so code written against one works with the
    other.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
