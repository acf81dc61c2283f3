"""The reference daemon: nodes of a "pack" that find each other over UDP, check each
other's liveness, follow a leader and serve the live membership through LXD's API.

Layers, one concern each:

- ``crypto``: authenticated encryption with the pre-shared key.
- ``messages``: message codes (append-only) and the binary codec.
- ``replay``: per-sender sequence windows and a time window against replays.
- ``node``: the sans-IO protocol core (SWIM-style probing with suspicion, gossip,
  leadership): datagrams and the current time in, datagrams and events out.
- ``memnet``: an in-memory network (loss, delay, partitions) to run many nodes.
- ``udp``: the asyncio UDP transport (broadcast, multicast, unicast).
- ``daemon``: wires a node, its sockets, the cluster state and the REST API together.
"""
