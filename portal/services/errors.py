"""Errors the services raise; the pages and the API turn them into 4xx responses."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class ValidationFailed(ServiceError):
    status_code = 422
    code = "validation_failed"


class Conflict(ServiceError):
    """The ticket changed since the version the caller saw; nothing was written."""

    status_code = 409
    code = "version_conflict"

    def __init__(self, message: str, ticket_id: int, expected_version: int, current_version: int | None = None):
        super().__init__(
            message,
            {"version": f"The ticket is at version {current_version}; reload it."}
            if current_version is not None
            else {"version": "The ticket changed; reload it."},
        )
        self.ticket_id = ticket_id
        self.expected_version = expected_version
        self.current_version = current_version
