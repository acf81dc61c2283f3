"""Joining a pack with a join token, in LXD's flow.

A member creates the token (``POST /1.0/cluster/members {"server_name": X}``: a token
operation whose metadata holds a one-time secret). The token string is base64 of
``{"server_name", "fingerprint", "addresses", "secret", "expires_at"}``, as LXD's. A new
daemon started with ``join_token:`` (and no secret) posts a proof to
``/internal/pack/join`` on one of the token's addresses: an HMAC of its name and the time
under the token's secret, so the secret itself never travels. The leader checks the token
(issued for that name, not expired, not used, not revoked), consumes it, and answers, once a
majority has recorded that, with the pack's name, key and members, sealed with a key derived
from the token's secret: only the holder of the token can read it, and only a member that
knows the token could have sealed it.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mockserver.daemon.protocol.crypto import OpenError, Sealer
from mockserver.errors import ApiError
from mockserver.godecode import parse_json
from mockserver.wire import Reply

log = logging.getLogger(__name__)

JOIN_PATH = "/internal/pack/join"
PROOF_WINDOW = 300.0   # seconds between the joiner's clock and the leader's


class JoinError(Exception):
    """Joining failed; the message says why and what to do."""


@dataclass(frozen=True)
class JoinToken:
    server_name: str
    secret: str
    addresses: tuple
    expires_at: _dt.datetime | None
    fingerprint: str = ""

    @classmethod
    def decode(cls, text: str) -> JoinToken:
        """Raises: JoinError for anything but a join token."""
        try:
            raw = json.loads(base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), validate=True))
            expires = raw.get("expires_at") or None
            return cls(str(raw["server_name"]), str(raw["secret"]), tuple(raw["addresses"]),
                       _dt.datetime.fromisoformat(expires) if expires else None, str(raw.get("fingerprint", "")))
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise JoinError(f"join_token is not a join token (base64 of the token JSON, as `pylxd-cluster add NAME` "
                            f"or `lxc cluster add NAME` prints it): {exc}") from None


def token_sealer(secret: str) -> Sealer:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"pylxd-cluster join",
               info=b"pylxd-cluster join reply key v1").derive(secret.encode())
    return Sealer(key)


def join_proof(secret: str, server_name: str, at: float) -> str:
    return hmac.new(secret.encode(), f"{server_name}|{at:.3f}".encode(), hashlib.sha256).hexdigest()


# ---- the joining daemon ------------------------------------------------------------------------

async def join(token_text: str, server_name: str) -> dict:
    """Prove the token to one of its addresses; returns {"pack", "secret", "peers"}.

    Raises:
        JoinError: a bad or expired token, a refusal (with the member's reason), or no
        address answering.
    """
    from aiohttp import ClientError, ClientSession, ClientTimeout

    token = JoinToken.decode(token_text)
    if token.server_name != server_name:
        raise JoinError(f'the join token was issued for "{token.server_name}", but this member is "{server_name}" '
                        f"(set server_name, or ask for a token for {server_name})")
    if token.expires_at is not None and token.expires_at < _dt.datetime.now(_dt.timezone.utc):
        raise JoinError(f"the join token expired at {token.expires_at:%Y-%m-%d %H:%M:%S} UTC; ask for a new one "
                        f"(pylxd-cluster add {server_name})")
    at = time.time()
    body = {
        "server_name": server_name,
        "at": round(at, 3),
        "proof": join_proof(token.secret, server_name, round(at, 3)),
    }
    failures = []
    async with ClientSession(timeout=ClientTimeout(total=30, sock_connect=5)) as session:
        for address in token.addresses:
            for scheme in ("http", "https"):
                try:
                    async with session.post(f"{scheme}://{address}{JOIN_PATH}", json=body, ssl=False) as reply:
                        data = await reply.read()
                except (ClientError, OSError) as exc:
                    failures.append(f"{scheme}://{address}: {exc or type(exc).__name__}")
                    continue
                if reply.status != 200:
                    try:
                        error = json.loads(data)["error"]
                    except (ValueError, KeyError, TypeError):
                        error = data[:200].decode("utf-8", "replace")
                    if reply.status in (403, 409):
                        raise JoinError(f"the pack refused the join token ({address}): {error}")
                    failures.append(f"{address}: HTTP {reply.status}: {error}")
                    break
                try:
                    return json.loads(token_sealer(token.secret).open(data))
                except (OpenError, ValueError) as exc:
                    raise JoinError(f"{address} answered with something not sealed with the token: the member does "
                                    f"not know this token ({exc})") from None
    raise JoinError("no address in the join token answered: " + "; ".join(failures))


# ---- the pack's side -----------------------------------------------------------------------------

def check_join(state, body: bytes):
    """Validate a join request against the cluster's tokens; returns (token operation,
    server name). Raises: ApiError 400 (malformed) or 403 (refused, with the reason)."""
    raw = parse_json(body)   # ApiError 400 with Go's text for what is not JSON
    try:
        server_name, at, proof = raw["server_name"], raw["at"], raw["proof"]
        if not (isinstance(server_name, str) and isinstance(proof, str) and isinstance(at, (int, float))):
            raise TypeError("wrong types")
        at = float(at)
    except (ValueError, KeyError, TypeError, OverflowError):
        raise ApiError(400, 'Expected {"server_name", "at", "proof"}') from None
    op = state.find_join_token(server_name)
    if op is None:
        raise ApiError(403, f'No join token for "{server_name}": it was never issued, was already used, or was '
                            "revoked; ask for a new one")
    expires = _dt.datetime.fromisoformat(op.metadata["expiresAt"])
    if expires < _dt.datetime.now(_dt.timezone.utc):
        raise ApiError(403, f'The join token for "{server_name}" expired at {expires:%Y-%m-%d %H:%M:%S} UTC; '
                            "ask for a new one")
    if abs(time.time() - at) > PROOF_WINDOW:
        raise ApiError(403, f"The join request's time is {time.time() - at:.0f} s off this member's clock "
                            f"(more than {PROOF_WINDOW:g} s): synchronise the clocks")
    if not hmac.compare_digest(proof, join_proof(op.metadata["secret"], server_name, at)):
        raise ApiError(403, f'The join proof does not match the token issued for "{server_name}" '
                            "(a forged or altered token)")
    return op, server_name


def join_reply(secret: str, answer: dict) -> Reply:
    return Reply(200, token_sealer(secret).seal(json.dumps(answer).encode()),
                 {"Content-Type": "application/octet-stream"})
