"""Route table: path patterns to per-method handlers, with LXD's 404 and 501 answers."""
from __future__ import annotations

from typing import Callable

from ..errors import ApiError, not_found, not_implemented


class Router:
    """Matches ``/a/{name}/b`` patterns segment by segment; placeholders capture one segment."""

    def __init__(self):
        self._routes: list[tuple[list[str], dict[str, Callable]]] = []

    def add(self, pattern: str, **handlers: Callable) -> None:
        parts = [p for p in pattern.strip("/").split("/") if p]
        self._routes.append((parts, {method.upper(): h for method, h in handlers.items()}))

    def resolve(self, method: str, segments: list[str]) -> tuple[Callable, dict]:
        """Find the handler and path parameters.

        Raises:
            ApiError: 404 ``not found`` for an unknown path, 501 ``not implemented`` for
            a method the path does not support.
        """
        for parts, handlers in self._routes:
            if len(parts) != len(segments):
                continue
            params = {}
            for part, segment in zip(parts, segments):
                if part.startswith("{"):
                    if not segment:
                        break
                    params[part[1:-1]] = segment
                elif part != segment:
                    break
            else:
                handler = handlers.get(method)
                if handler is None:
                    raise not_implemented()
                return handler, params
        raise not_found()

    def patterns(self) -> list[str]:
        return ["/" + "/".join(parts) for parts, _ in self._routes]


def guard(func: Callable) -> Callable:
    """Mark a handler as reachable by untrusted clients (only GET /1.0 is, as in LXD)."""
    func.untrusted_ok = True
    return func


def require_trust(handler: Callable, trusted: bool) -> None:
    if not trusted and not getattr(handler, "untrusted_ok", False):
        raise ApiError(403, "not authorized")
