"""Join tokens: ``POST /1.0/cluster/members`` and token operations."""

from __future__ import annotations

import re

from pylxd_cluster.exceptions import InvalidJoinToken, NotFound
from pylxd_cluster.managers.base import Manager, api_call, api_path, plan_of, requires
from pylxd_cluster.models.token import JoinToken, TokenList
from pylxd_cluster.protocol import Plan

__all__ = ["TokenManager"]

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class TokenManager(Manager):
    """``client.cluster.tokens``: issue, list and revoke join tokens (API extension
    ``clustering_join_token``; without it every call raises ``ExtensionMissing`` before sending)."""

    call_prefix = "cluster.tokens"

    @api_call
    @requires("clustering_join_token")
    def create(self, server_name: str) -> Plan[JoinToken]:
        """Issue a join token for a new member called ``server_name`` (``lxc cluster add``).

        The token operation stays Running until the token is used, revoked or
        expires (3 h by default). LXD cancels an older token for the same name.

        Raises:
            APIError: e.g. the server is not clustered.
            ExtensionMissing: the server lacks ``clustering_join_token`` (nothing is sent).
        """
        result = yield self._request("POST", api_path("cluster", "members"),
                               json={"server_name": server_name})
        return JoinToken.from_operation(result.metadata or {}, manager=self)

    @api_call
    @requires("clustering_join_token")
    def all(self) -> Plan[TokenList]:
        """The tokens still usable: running operations of class "token" (one request).

        Raises:
            ExtensionMissing: the server lacks ``clustering_join_token`` (nothing is sent).
        """
        result = yield self._request("GET", api_path("operations"), params={"recursion": 1})
        return TokenList(
            JoinToken.from_operation(op, manager=self)
            for ops in (result.metadata or {}).values()
            for op in (ops or ())
            if isinstance(op, dict) and op.get("class") == "token" and op.get("status") == "Running"
        )

    @api_call
    @requires("clustering_join_token")
    def revoke(self, token: JoinToken | str) -> Plan[None]:
        """Revoke a token: a JoinToken, a token string, an operation id, or a member name.

        A name or token string is looked up among :meth:`all` (one extra request).

        Raises:
            NotFound: no running token matches, or the operation is already gone.
            APIError: 400 "Only running operations can be cancelled".
            ExtensionMissing: the server lacks ``clustering_join_token`` (nothing is sent).
        """
        operation_id = yield from self._operation_id_of(token)
        yield self._request("DELETE", api_path("operations", operation_id))

    def _operation_id_of(self, token: JoinToken | str) -> Plan[str]:
        if isinstance(token, JoinToken) and token.operation_id:
            return token.operation_id
        if isinstance(token, str) and _UUID.match(token):
            return token
        secret = token.secret if isinstance(token, JoinToken) else _secret_of(token)
        for candidate in (yield from plan_of(self.all)):
            if (secret and candidate.secret == secret) or (
                not secret and isinstance(token, str) and candidate.server_name == token
            ):
                return candidate.operation_id
        wanted = token if isinstance(token, str) else token.server_name
        raise NotFound(
            f"no running join token matches {wanted!r} (GET /1.0/operations lists none for it)",
            status_code=404,
            endpoint=self._transport.endpoint,
        )


def _secret_of(text: str) -> str:
    """The secret of a token string, or "" when ``text`` is a member name."""
    try:
        return JoinToken.decode(text).secret
    except InvalidJoinToken:
        return ""
