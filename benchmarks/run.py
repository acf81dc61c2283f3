"""``make bench``: every benchmark, each printing ratios against a peer measured in the same run.

Run from the repository root: ``python -m benchmarks.run``.
"""
from __future__ import annotations

import sys
import time

from benchmarks import (
    backends,
    config_propagation,
    discovery,
    etcd_load,
    pack_failover,
    pack_processes,
    pack_simulation,
    sdk_async,
    sdk_members,
    server_throughput,
    service_failover,
)
from benchmarks.common import ms, percentile

# N = 1000 takes more than 5 minutes of this run's 10-minute budget on a 2-core machine:
# run it alone with `python -m benchmarks.pack_simulation --sizes 1000`.
SIMULATION_SIZES = "10,100"


def main() -> int:
    started = time.monotonic()
    print("pylxd-cluster benchmarks (loopback; ratios are what to compare across machines)")
    sdk = sdk_members.run()
    sdk_aio = sdk_async.run()
    server = server_throughput.run()
    simulation = pack_simulation.main(["--sizes", SIMULATION_SIZES])
    print(f"  (sizes {SIMULATION_SIZES} here; N=1000 runs longer than this run's budget: "
          "python -m benchmarks.pack_simulation --sizes 1000)")
    processes = pack_processes.run()
    failover = pack_failover.run()
    propagation = config_propagation.run()
    services = service_failover.run()
    discovery.run()
    etcd = etcd_load.run((100, 1000))
    engines = backends.run()

    goal_sdk = sdk["sdk_ratio"] <= 1.25
    print(f"\nSDK members.all(): {sdk['sdk_ratio']:.2f}x the bare GET (goal: within 1.25x) "
          f"{'met' if goal_sdk else 'NOT met'}; pylxd: {sdk['pylxd_ratio']:.1f}x with "
          f"{sdk['counts']['pylxd']} requests")
    goal_async = sdk_aio["all_ratio"] <= 1.25
    print(f"AsyncClient members.all(): {sdk_aio['all_ratio']:.2f}x bare aiohttp (goal: within 1.25x) "
          f"{'met' if goal_async else 'NOT met'}; {sdk_async.CONCURRENT} concurrent members.get(): "
          f"{sdk_aio['gets_ratio']:.2f}x bare aiohttp, the sync client in turn "
          f"{sdk_aio['gets_ms']['sync'] / sdk_aio['gets_ms']['async']:.1f}x slower than AsyncClient")
    print(f"Mock server: {server['ratio']:.2f} of bare aiohttp's throughput")
    largest = simulation[-1]
    print(f"Pack simulation N={largest['size']}: at most {largest['max_load']:.1f} pkt/s per node, detection p99 "
          f"{largest['detect_p99']:.2f} s, {largest['false_positives']} false positives")
    for size, r in processes["sizes"].items():
        print(f"Pack processes N={size}: detection p99 {ms(percentile(r['detect'], 0.99))} "
              f"(bound 1200 ms), join p99 {ms(percentile(r['join'], 0.99))} "
              f"(bound 400 ms)")
    idle = processes["idle"]
    print(f"Idle daemon: {max(r['cpu'] for r in idle):.2f}% CPU at most, "
          f"{max(r['rss_kb'] for r in idle) / 1024:.0f} MiB RSS at most")
    for label, ratio in failover["ratios"].items():
        print(f"Leader failover: our p99 is {ratio:.2f}x pysyncobj's at {label} "
              f"(goal: no worse) {'met' if ratio <= 1 else 'NOT met'}")
    for size, r in propagation["sizes"].items():
        if r.get("our_p50") is None:
            print(f"Config propagation N={size}: ours NOT measured (goals p50 within 3x of etcd, p99 < 50 ms: NOT met)")
            continue
        p50_goal = ("met" if r["ratio_p50"] <= config_propagation.GOAL_P50_RATIO else "NOT met") \
            if r.get("ratio_p50") is not None else "etcd not measured"
        p99_goal = "met" if r["our_p99"] < config_propagation.GOAL_P99 else "NOT met"
        ratios = (f" ({r['ratio_p50']:.2f}x / {r['ratio_p99']:.2f}x etcd's)" if r.get("ratio_p50") is not None else "")
        print(f"Config propagation N={size}: p50 {config_propagation.fms(r['our_p50'])} / p99 "
              f"{config_propagation.fms(r['our_p99'])}{ratios}; p50 within 3x of etcd {p50_goal}, "
              f"p99 < 50 ms {p99_goal}")
    for label, row in services.get("settings", {}).items():
        ratio = row["ratio_p99"]
        verdict = ("met" if ratio <= 1 else "NOT met") if ratio == ratio else "not comparable"
        print(f"Service failover at {label}: ours p50 {ms(percentile(row['ours'], 0.5))} / p99 "
              f"{ms(percentile(row['ours'], 0.99))}, keepalived p50 {ms(percentile(row['keepalived'], 0.5))} / p99 "
              f"{ms(percentile(row['keepalived'], 0.99))}; our p99 <= keepalived's: {verdict}"
              + (f" ({ratio:.2f}x)" if ratio == ratio else ""))
    for size, r in etcd["sizes"].items():
        print(f"etcd under N={size} simulated members: {r['cpu_percent']:.1f}% CPU (3 etcd members), "
              f"{r['db_bytes'] / 1024:.0f} KiB database, {r['bytes_per_member_s']:.0f} B/s of client traffic per "
              f"member, a departure seen by every member in {r['fanout_max'] * 1000:.0f} ms at most")
    for kind in backends.KINDS:
        engine = engines.get(kind, {})
        if not engine.get("failover"):
            print(f"backend {kind}: NOT measured")
            continue
        spread = ", ".join(f"N={size} {ms(percentile(values, 0.5))}" for size, values in engine["propagation"].items())
        print(f"backend {kind}: propagation p50 {spread}; failover after kill -9 p50 "
              f"{ms(percentile(engine['failover'], 0.5))}; join p50 {ms(percentile(engine['join']['total'], 0.5))}")
    if services.get("error"):
        print(f"Service failover: NOT measured ({services['error']})")
    print(f"\nall benchmarks: {time.monotonic() - started:.0f} s")
    errors = propagation["errors"] + engines["errors"]
    for error in errors:
        print(f"FAILED: {error.splitlines()[0]}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
