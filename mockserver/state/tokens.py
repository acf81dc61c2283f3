"""Join tokens: LXD shows each as a running "token" operation until it is used,
revoked or replaced."""
from __future__ import annotations

import datetime as _dt
import secrets

from mockserver.errors import ApiError, bad_request
from mockserver.state.operations import Operation
from mockserver.wire import go_timestamp, now_utc


class TokenRules:
    """ClusterState's join tokens (a part of ClusterState; see cluster.py for the attributes)."""

    def create_token(self, server_name: str, requestor: dict | None) -> Operation:
        """Create a join token operation; an older token for the same name is cancelled.

        Raises:
            ApiError: 400 standalone or reserved name; 503 no online member to join through.
        """
        with self.lock:
            self._require_clustered("This server is not clustered", 400)
            if server_name == "none":
                raise bad_request('Join token name cannot be "none"')
            if not self.profile.token_for_existing_member and server_name in self.members:
                raise self.profile.refuse("token-existing-member", name=server_name)
            addresses = self.online_addresses()
            if not addresses:
                raise ApiError(503, "There are no online cluster members")
            for op in self.operations.running("token"):
                if op.metadata.get("serverName") == server_name:
                    self.operations.cancel(op.id, requestor)
            self.removed.discard(server_name)
            expires = now_utc() + _dt.timedelta(seconds=self.token_expiry)
            metadata = {"addresses": addresses, "expiresAt": go_timestamp(expires), "fingerprint": self.fingerprint,
                        "secret": secrets.token_hex(32), "serverName": server_name}
            op = Operation("token", "Executing operation", location=self.local_name, resources={"cluster": None},
                           metadata=metadata, may_cancel=True, project="default")
            self.operations.start(op)
            self._lifecycle("cluster-token-created", "/1.0/cluster/members", requestor)
            return op

    def _import_tokens(self, tokens) -> None:
        """Show the cluster's join tokens as Running token operations here too (same ids);
        one that is gone from the document was used or revoked, and ends."""
        wanted = {token["operation"]: token for token in tokens}
        for op in self.operations.running("token"):
            if op.id not in wanted:
                self.operations.finish(op)
        known = {op.id for op in self.operations.all()}
        for op_id, token in wanted.items():
            if op_id in known:
                continue
            op = Operation("token", "Executing operation", location=self.local_name, resources={"cluster": None},
                           metadata=dict(token["metadata"]), may_cancel=True, project="default")
            op.id, op.created_at = op_id, token["created_at"]
            self.operations.start(op)

    def find_join_token(self, server_name: str) -> Operation | None:
        """The running join token for ``server_name``, if any (expired ones included)."""
        with self.lock:
            for op in self.operations.running("token"):
                if op.metadata.get("serverName") == server_name:
                    return op
            return None

    def consume_join_token(self, op: Operation) -> None:
        """A token was used to join: it ends (single use). LXD emits no event for this; the
        new member's cluster-member-added follows when it appears."""
        with self.lock:
            self.operations.finish(op)
            self.revision += 1
