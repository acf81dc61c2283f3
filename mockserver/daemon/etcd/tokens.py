"""Join tokens in etcd: ``tokens/<id>`` under a lease of the token's lifetime, used once.

A token is consumed in one transaction (read it and delete it if it is still there), so two
members presenting the same token cannot both join; an expired token is gone with its lease.
"""
from __future__ import annotations

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys

__all__ = ["EtcdTokens"]


class EtcdTokens:
    """The join tokens of one pack."""

    def __init__(self, client: EtcdClient, keys: PackKeys) -> None:
        self.client, self.keys = client, keys

    async def create(self, token_id: str, payload: bytes, lifetime: float) -> None:
        """Store a token valid for ``lifetime`` seconds (whole seconds, at least 1).

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client = self.client
        lease = await client.call(lambda: client.lease(max(1, int(round(lifetime)))))
        await client.call(lambda: client.put(self.keys.token(token_id), payload, lease=lease.id))

    async def consume(self, token_id: str) -> bytes | None:
        """The token's payload, deleting it in the same transaction; None if there is no such
        token (never made, expired, revoked, or already used).

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable (the token may
                or may not have been used).
        """
        client, key = self.client, self.keys.token(token_id)
        tx = client.transactions

        async def attempt():
            return await client.transaction(compare=[tx.version(key) > 0], success=[tx.get(key), tx.delete(key)],
                                            failure=[])

        succeeded, replies = await client.call(attempt)
        if not succeeded or not replies or not replies[0]:
            return None
        value, _ = replies[0][0]
        return value

    async def revoke(self, token_id: str) -> bool:
        """Delete a token; whether there was one.

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client = self.client
        reply = await client.call(lambda: client.delete(self.keys.token(token_id)))
        return bool(reply)

    async def all(self) -> dict[str, bytes]:
        """Every token still usable: ``{id: payload}``.

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client = self.client
        reply = await client.call(lambda: client.get_prefix(self.keys.tokens))
        return {self.keys.name_of(kv.key, self.keys.tokens): kv.value for kv in reply}
