"""Pieces several handlers share."""
from __future__ import annotations

from mockserver.api.request import ApiRequest
from mockserver.errors import precondition_failed


def check_if_match(req: ApiRequest, current_etag: str) -> None:
    """LXD checks If-Match before it parses the body.

    Raises:
        ApiError: 412 when the client's ETag is not the current one.
    """
    if req.if_match is not None and req.if_match != current_etag:
        raise precondition_failed(current_etag, req.if_match)
