"""The project's own errors. Every layer raises these; the API maps them to one error shape."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base error with a stable machine-readable code and an HTTP status for the API."""

    code: str = "error"
    status: int = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(ArchiveError):
    code = "not_found"
    status = 404


class InvalidRequestError(ArchiveError):
    code = "invalid_request"
    status = 400


class QuerySyntaxError(InvalidRequestError):
    code = "query_syntax"


class BackendError(ArchiveError):
    code = "backend_error"
    status = 503


class IndexWriteError(BackendError):
    """Some passages could not be written to the search backend; the others were written.

    ``failed`` maps each failed passage id to ``(code, reason)``. Codes: ``index_unavailable`` (the
    cluster stayed unreachable or kept answering 429/503 through every retry: try again later),
    ``index_rejected`` (the backend refused the passage itself), ``invalid_vector`` (refused by the
    local vector check before sending)."""

    code = "index_write_failed"

    def __init__(self, message: str, failed: dict[int, tuple[str, str]]) -> None:
        super().__init__(message)
        self.failed = failed


class EmbedderMismatchError(ArchiveError):
    """The index was built by another embedder than the one configured."""

    code = "embedder_mismatch"
    status = 409


class CursorStaleError(ArchiveError):
    """A search-after cursor no longer fits the index (it changed since the page was served)."""

    code = "cursor_stale"
    status = 409


class UnauthorizedError(ArchiveError):
    """No valid credentials."""

    code = "unauthorized"
    status = 401


class ForbiddenError(ArchiveError):
    """Valid credentials, but not allowed to do this (never used to hide whether a document exists:
    an unreadable document is a ``NotFoundError``)."""

    code = "forbidden"
    status = 403


class ConflictError(ArchiveError):
    code = "conflict"
    status = 409


class RateLimitedError(ArchiveError):
    code = "rate_limited"
    status = 429


class OriginalMissingError(ArchiveError):
    """A document's stored original is not in the store (deleted or moved on disk)."""

    code = "original_missing"
    status = 500


class OriginalCorruptError(ArchiveError):
    """A document's stored original no longer has the SHA-256 it was stored under (changed on disk):
    it is not served."""

    code = "original_corrupt"
    status = 500


class RenderError(ArchiveError):
    """A page image could not be rendered in time or at all (the viewer shows a placeholder)."""

    code = "render_failed"
    status = 503
