"""Service-group ownership in etcd: ``groups/<group>`` holds its owner's name, under the
owner's lease.

The key is the fence: a member takes a group only if nobody holds it (or it already does), in
one transaction, and the key goes with the owner's lease. A member cut off from etcd releases
its groups on its own before its TTL ends (see EtcdMembership's ``on_cut_off``), so that when
etcd lets another member take them, the old owner has already let go.
"""
from __future__ import annotations

from mockserver.daemon.etcd.client import EtcdClient
from mockserver.daemon.etcd.keys import PackKeys

__all__ = ["EtcdOwnership"]


class EtcdOwnership:
    """The owners of one pack's service groups."""

    def __init__(self, client: EtcdClient, keys: PackKeys) -> None:
        self.client, self.keys = client, keys

    async def claim(self, group: str, name: str, lease_id: int) -> str:
        """Take ``group`` for ``name`` (under ``lease_id``) if nobody holds it; return who holds
        it now (``name`` when the claim succeeded or it already held the group).

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client, key = self.client, self.keys.group(group)
        tx = client.transactions

        async def attempt():
            return await client.transaction(compare=[tx.version(key) == 0],
                                            success=[tx.put(key, name.encode(), lease_id)], failure=[tx.get(key)])

        succeeded, replies = await client.call(attempt)
        if succeeded:
            return name
        held = replies[0]
        return held[0][0].decode(errors="replace") if held else ""

    async def release(self, group: str, name: str) -> bool:
        """Let ``group`` go if ``name`` holds it; whether it did.

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client, key = self.client, self.keys.group(group)
        tx = client.transactions

        async def attempt():
            return await client.transaction(compare=[tx.value(key) == name.encode()], success=[tx.delete(key)],
                                            failure=[])

        succeeded, _ = await client.call(attempt)
        return succeeded

    async def owners(self) -> dict[str, str]:
        """``{group: owner}`` of every group held now.

        Raises:
            aetcd.exceptions.ClientError: etcd refused or stayed unavailable.
        """
        client = self.client
        reply = await client.call(lambda: client.get_prefix(self.keys.groups))
        return {self.keys.name_of(kv.key, self.keys.groups): kv.value.decode(errors="replace") for kv in reply}
