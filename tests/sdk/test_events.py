"""EventStream: parsing, matching, timeouts, and pings over a real websocket."""

import asyncio
import json
import threading
import time

import pytest
import websocket

from pylxd_cluster import ClientConnectionError, Event, Timeout
from pylxd_cluster.events import EventStream
from pylxd_cluster.transport import Transport
from tests.sdk.fakes import ENDPOINT, GOLDEN, golden


class FakeWebSocket:
    """Hands out text frames, then blocks until shut down (like an idle LXD stream)."""

    def __init__(self, frames, end_with_close=False):
        self.frames = list(frames)
        self.end_with_close = end_with_close
        self.shut = threading.Event()
        self.sent_close = False

    def recv_data(self):
        if self.frames:
            return websocket.ABNF.OPCODE_TEXT, self.frames.pop(0).encode()
        if self.end_with_close:
            return websocket.ABNF.OPCODE_CLOSE, b""
        self.shut.wait()
        raise websocket.WebSocketConnectionClosedException("closed")

    def send_close(self):
        self.sent_close = True

    def shutdown(self):
        self.shut.set()


def lifecycle_lines():
    return (GOLDEN / "EVENTS_lifecycle.jsonl").read_text().splitlines()


def test_iterates_events_in_order():
    lines = lifecycle_lines()[:3]
    with EventStream(Transport(ENDPOINT), connection=FakeWebSocket(lines), timeout=2) as stream:
        events = [next(stream) for _ in lines]
    assert all(isinstance(e, Event) for e in events)
    assert [e.action for e in events] == [json.loads(line)["metadata"]["action"] for line in lines]


def test_next_times_out_when_idle():
    with EventStream(Transport(ENDPOINT), connection=FakeWebSocket([]), timeout=0.1) as stream:
        with pytest.raises(Timeout, match="no event on /1.0/events\\?type=lifecycle"):
            next(stream)


def test_wait_for_skips_non_matching_events_and_bad_frames():
    frames = ["not json"] + lifecycle_lines()
    with EventStream(Transport(ENDPOINT), connection=FakeWebSocket(frames)) as stream:
        event = stream.wait_for(action="cluster-group-updated", name="g3", timeout=2)
        assert event.source == "/1.0/cluster/groups/g3"
        later = stream.wait_for(lambda e: e.action == "cluster-group-created", timeout=2)
        assert later.timestamp > event.timestamp


def test_wait_for_timeout_names_what_it_waited_for():
    with EventStream(Transport(ENDPOINT), connection=FakeWebSocket(lifecycle_lines()[:2])) as stream:
        with pytest.raises(Timeout) as info:
            stream.wait_for(action="cluster-member-removed", name="node9", timeout=0.2)
    assert "action='cluster-member-removed'" in str(info.value)
    assert "name='node9'" in str(info.value)


def test_server_closing_the_stream_is_a_connection_error():
    stream = EventStream(Transport(ENDPOINT), connection=FakeWebSocket([], end_with_close=True))
    with pytest.raises(ClientConnectionError, match="closed by the server"):
        stream.next_event(timeout=2)
    stream.close()


def test_close_stops_the_reader_thread():
    fake = FakeWebSocket([])
    stream = EventStream(Transport(ENDPOINT), connection=fake)
    stream.close()
    assert fake.sent_close and fake.shut.is_set()
    assert not stream._reader.is_alive()
    with pytest.raises(StopIteration):
        next(stream)


def test_unreachable_endpoint_is_a_connection_error():
    with pytest.raises(ClientConnectionError, match="websocket"):
        EventStream(Transport(ENDPOINT, timeout=2))


# --- a real websocket server on a unix socket (aiohttp) ------------------------

class UnixEventServer:
    """Serves /1.0/events: records the query, sends a ping, waits for the pong, then events."""

    def __init__(self, path, frames):
        self.path = str(path)
        self.frames = frames
        self.query = None
        self.pong_payload = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _events(self, request):
        from aiohttp import WSMsgType, web

        if request.query.get("type") == "bogus":
            return web.json_response({"type": "error", "error_code": 400,
                                      "error": 'Invalid event type "bogus"', "metadata": None},
                                     status=400)
        self.query = dict(request.query)
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await ws.ping(b"are-you-there")
        msg = await asyncio.wait_for(ws.receive(), timeout=5)
        if msg.type == WSMsgType.PONG:
            self.pong_payload = msg.data
            for frame in self.frames:
                await ws.send_str(frame + "\n")
        async for _ in ws:  # until the client closes
            pass
        return ws

    async def _host_info(self, request):
        from aiohttp import web

        status, headers, body = golden("GET_1.0")
        return web.Response(body=body, status=status, content_type="application/json")

    def _run(self):
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/1.0/events", self._events)
        app.router.add_get("/1.0", self._host_info)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.UnixSite(self.runner, self.path).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc_info):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_real_websocket_answers_pings_and_delivers_events(tmp_path):
    lines = lifecycle_lines()[:2]
    with UnixEventServer(tmp_path / "lxd.socket", lines) as server:
        transport = Transport(str(tmp_path / "lxd.socket"), timeout=5)
        with EventStream(transport, types=("lifecycle", "operation"), timeout=5) as stream:
            first = next(stream)
            assert first.action == "cluster-token-created"
            assert next(stream).action == "operation-cancelled"
        # Events only flow after the pong, so getting them proves the ping was answered.
        assert server.pong_payload == b"are-you-there"
        assert server.query == {"type": "lifecycle,operation"}


def test_refused_event_type_raises_api_error(tmp_path):
    from pylxd_cluster import APIError

    with UnixEventServer(tmp_path / "lxd.socket", []):
        transport = Transport(str(tmp_path / "lxd.socket"), timeout=5)
        with pytest.raises(APIError) as info:
            EventStream(transport, types=("bogus",))
    assert info.value.status_code == 400
    assert 'Invalid event type "bogus"' in str(info.value)


def test_client_wait_for_event_over_unix_socket(tmp_path):
    from pylxd_cluster import Client

    with UnixEventServer(tmp_path / "lxd.socket", lifecycle_lines()):
        client = Client(str(tmp_path / "lxd.socket"), timeout=5)
        assert client.server_name == "node1"
        started = time.monotonic()
        event = client.wait_for_event(action="cluster-member-updated", timeout=5)
        assert event.name == "node1"
        assert time.monotonic() - started < 5
