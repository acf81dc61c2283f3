"""A UdpEndpoint in its own process, driven by lines on stdin, for the namespace tests.

    python _endpoint_child.py --interface A --port P [--broadcast B] [--group G]

Prints ``READY <ip> <port>`` once bound (or ``ERROR <message>`` and exits 2), then
``RECV <payload> <ip> <port> <own>`` for every datagram. Commands (one a line):
``unicast <ip> <port> <payload>``, ``broadcast <payload>``, ``multicast <payload>``,
``counters`` (prints ``COUNTERS <json>``), ``quit``.
"""
import argparse
import asyncio
import json
import sys

from mockserver.daemon.udp import UdpEndpoint, UdpError


def say(*parts) -> None:
    print(*parts, flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interface", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broadcast")
    parser.add_argument("--group")
    args = parser.parse_args()
    endpoint = None

    def on_datagram(data: bytes, source) -> None:
        say("RECV", data.decode(errors="replace"), source[0], source[1], int(endpoint.is_own(source)))

    endpoint = UdpEndpoint(interface=args.interface, port=args.port, broadcast=args.broadcast,
                           multicast_group=args.group, on_datagram=on_datagram)
    try:
        await endpoint.start()
    except UdpError as exc:
        say("ERROR", exc)
        return 2
    say("READY", *endpoint.local_address)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "unicast":
                endpoint.send_unicast(words[3].encode(), (words[1], int(words[2])))
            elif words[0] == "broadcast":
                endpoint.send_broadcast(words[1].encode())
            elif words[0] == "multicast":
                endpoint.send_multicast(words[1].encode())
            elif words[0] == "counters":
                say("COUNTERS", json.dumps(endpoint.counters))
            else:
                say("ERROR unknown command", words[0])
    finally:
        await endpoint.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
