"""Real system facts for member state, read from /proc (as LXD reads them via sysinfo(2))."""
from __future__ import annotations

import os


def _meminfo() -> dict:
    values = {}
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def read_sysinfo() -> dict:
    """The ClusterMemberSysInfo object of this host, in LXD's field order."""
    mem = _meminfo()
    try:
        with open("/proc/uptime") as handle:
            uptime = int(float(handle.read().split()[0]))
    except OSError:
        uptime = 0
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = [0.0, 0.0, 0.0]
    try:
        processes = sum(1 for entry in os.listdir("/proc") if entry.isdigit())
    except OSError:
        processes = 0
    return {
        "uptime": uptime,
        "load_averages": load,
        "total_ram": mem.get("MemTotal", 0),
        "free_ram": mem.get("MemFree", 0),
        "shared_ram": mem.get("Shmem", 0),
        "buffered_ram": mem.get("Buffers", 0),
        "total_swap": mem.get("SwapTotal", 0),
        "free_swap": mem.get("SwapFree", 0),
        "processes": processes,
        "logical_cpus": os.cpu_count() or 1,
    }
