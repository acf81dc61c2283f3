"""The SDK over asyncio: :class:`AsyncClient`, and its transport and event stream.

Needs aiohttp: ``pip install 'pylxd-cluster[async]'``.
"""

try:
    import aiohttp  # noqa: F401 - checked here, to name the extra that brings it
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("pylxd_cluster.aio (AsyncClient) needs aiohttp: pip install 'pylxd-cluster[async]'") from exc

from pylxd_cluster.aio.client import AsyncClient
from pylxd_cluster.aio.events import AsyncEventStream
from pylxd_cluster.aio.transport import AsyncTransport

__all__ = ["AsyncClient", "AsyncEventStream", "AsyncTransport"]
