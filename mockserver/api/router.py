"""Route table: path patterns to per-method handlers, with LXD's 404 and 501 answers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mockserver.errors import ApiError, not_found, not_implemented


@dataclass(frozen=True)
class Route:
    """``pattern`` (``/a/{name}/b``) and its handlers by method.

    ``untrusted``: reachable by clients without a trusted certificate (in LXD only
    ``GET /1.0`` is; a back end's own routes may authenticate otherwise). ``gated``: passed
    through the back end's gate (a pack member's own traffic is not).
    """

    pattern: str
    handlers: dict = field(default_factory=dict)
    untrusted: bool = False
    gated: bool = True

    @property
    def parts(self) -> list[str]:
        return [p for p in self.pattern.strip("/").split("/") if p]


@dataclass(frozen=True)
class Match:
    handler: Callable
    params: dict
    route: Route


class Router:
    """Matches ``/a/{name}/b`` patterns segment by segment; placeholders capture one segment."""

    def __init__(self, routes=()):
        self._routes: list[tuple[list[str], Route]] = []
        for route in routes:
            self.add_route(route)

    def add(self, pattern: str, *, untrusted: bool = False, gated: bool = True, **handlers: Callable) -> None:
        self.add_route(Route(pattern, {method.upper(): h for method, h in handlers.items()}, untrusted, gated))

    def add_route(self, route: Route) -> None:
        handlers = {method.upper(): h for method, h in route.handlers.items()}
        route = Route(route.pattern, handlers, route.untrusted, route.gated)
        self._routes.append((route.parts, route))

    def resolve(self, method: str, segments: list[str]) -> Match:
        """Find the handler and path parameters.

        Raises:
            ApiError: 404 ``not found`` for an unknown path, 501 ``not implemented`` for
            a method the path does not support.
        """
        for parts, route in self._routes:
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
                handler = route.handlers.get(method)
                if handler is None:
                    raise not_implemented()
                return Match(handler, params, route)
        raise not_found()

    def patterns(self) -> list[str]:
        return [route.pattern for _, route in self._routes]


def require_trust(match: Match, trusted: bool) -> None:
    """Raises: ApiError 403 when an untrusted client asks for a route that needs trust."""
    if not trusted and not match.route.untrusted:
        raise ApiError(403, "not authorized")
