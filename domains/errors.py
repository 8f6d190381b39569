"""The one refusal type of the domains app and its features (origins, webhooks, push)."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a stable `code` and a `message` a person can act on; `field` names the
    input at fault, `retry_after` (seconds) says when asking again can succeed."""

    def __init__(
        self, code: str, message: str, *, field: str = "", retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
