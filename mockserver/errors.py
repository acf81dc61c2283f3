"""The one exception the server's layers raise to answer with an LXD error envelope."""
from __future__ import annotations


class ApiError(Exception):
    """A request that fails with an HTTP status and LXD's error text."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def forbidden(message: str = "not authorized") -> ApiError:
    return ApiError(403, message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def precondition_failed(current: str, sent: str) -> ApiError:
    return ApiError(412, f"ETag doesn't match: {current} vs {sent}")


def not_implemented() -> ApiError:
    return ApiError(501, "not implemented")
