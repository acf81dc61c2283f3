"""``make bench``: every benchmark, each printing ratios against a peer measured in the same run."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sdk_members  # noqa: E402
import server_throughput  # noqa: E402


def main() -> int:
    print("pylxd-cluster benchmarks (loopback; ratios are what to compare across machines)")
    sdk = sdk_members.run()
    server = server_throughput.run()
    goal_sdk = sdk["sdk_ratio"] <= 1.5
    print(f"\nSDK members.all(): {sdk['sdk_ratio']:.2f}x the bare GET (goal: within 1.5x) "
          f"{'met' if goal_sdk else 'NOT met'}; pylxd: {sdk['pylxd_ratio']:.1f}x with {sdk['counts']['pylxd']} requests")
    print(f"Mock server: {server['ratio']:.2f} of bare aiohttp's throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
