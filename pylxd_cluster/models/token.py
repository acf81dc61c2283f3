"""Join tokens: what ``lxc cluster add`` prints and a joining server presents."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

import attrs

from pylxd_cluster.exceptions import InvalidJoinToken
from pylxd_cluster.models.base import (
    SECRET_MASK,
    ModelList,
    ServerModel,
    as_str,
    as_timestamp,
    as_tuple,
    frozen_model,
    masked_repr,
    wire_field,
)
from pylxd_cluster.timestamps import Timestamp

__all__ = ["JoinToken", "TokenList", "go_json"]

# The token operation's metadata uses camelCase; the token itself uses snake_case.
_OPERATION_KEYS = (
    ("serverName", "server_name"),
    ("fingerprint", "fingerprint"),
    ("addresses", "addresses"),
    ("secret", "secret"),
    ("expiresAt", "expires_at"),
)


def go_json(value: Any) -> str:
    """Compact JSON as Go's json.Marshal writes it (HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@frozen_model
class JoinToken(ServerModel):
    """A cluster join token.

    The wire fields are the token's JSON (``server_name, fingerprint, addresses,
    secret, expires_at``); ``operation_id`` is the token operation on the server
    that issued it (empty for a token decoded from a string).
    ``token`` is the string ``lxc cluster add`` prints.
    """

    server_name: str = wire_field(decode=as_str, default="")
    fingerprint: str = wire_field(decode=as_str, default="")
    addresses: tuple[str, ...] = wire_field(decode=as_tuple, factory=tuple)
    secret: str = wire_field(decode=as_str, default="")
    expires_at: Timestamp | None = wire_field(decode=as_timestamp, default=None)
    operation_id: str = ""

    @classmethod
    def from_operation(cls, operation: Any, manager: Any = None) -> JoinToken:
        """Build the token from its operation (an Operation model or the raw dict).

        Raises:
            ClusterError: the operation's metadata is not a join token's.
        """
        if isinstance(operation, Mapping):
            op_id, metadata = operation.get("id", ""), operation.get("metadata") or {}
        else:
            op_id, metadata = operation.id, operation.metadata or {}
        token_json = {snake: metadata[camel] for camel, snake in _OPERATION_KEYS if camel in metadata}
        return attrs.evolve(cls.from_api(token_json, manager=manager), operation_id=op_id)

    @classmethod
    def decode(cls, token: str) -> JoinToken:
        """Decode a token string (base64 of the token JSON).

        Raises:
            InvalidJoinToken: not base64, not JSON, or not a join token.
        """
        text = "".join(token.split())
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            data = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise InvalidJoinToken(f"not a join token (expected base64 of JSON): {exc}") from exc
        if not isinstance(data, Mapping) or "secret" not in data:
            raise InvalidJoinToken(f"not a join token: decoded JSON has no secret: {str(data)[:100]}")
        return cls.from_api(data)

    @property
    def token(self) -> str:
        """The token string: standard base64 (with padding) of the compact token JSON."""
        return base64.b64encode(go_json(self.to_api()).encode()).decode()

    def __str__(self) -> str:
        return self.token

    def __repr__(self) -> str:
        # The secret (and so the token string) stays out of every display: repr, Jupyter, IPython.
        return masked_repr(self, secret=SECRET_MASK if self.secret else "")

    def _repr_html_(self) -> str:
        from pylxd_cluster.display import token_html

        return token_html(self)

    def revoke(self) -> None:
        """Revoke the token (cancel its operation).

        Raises:
            NotFound: the token was already used, revoked or expired.
        """
        return self.manager.revoke(self)


class TokenList(ModelList):
    """The join tokens still usable: a tuple, plus lookup by member name and rich display
    (which never shows a secret)."""

    __slots__ = ()
    _name_attribute = "server_name"
    _noun = "join token for"
    _plural = "tokens for"

    def by_name(self, name: str) -> JoinToken:
        """The token for the member called ``name``.

        Raises:
            KeyError: no token is for that name (the message lists the names there are).
        """
        return super().by_name(name)

    def _html(self) -> str:
        from pylxd_cluster.display import tokens_html

        return tokens_html(self)
