"""DocumentWriter: documents reach the disk in order, after the current loop iteration,
coalesced when they queue up; small ones on the loop's thread, large ones on a thread."""
from __future__ import annotations

import asyncio
import threading

from mockserver.daemon.harness import async_wait_until
from mockserver.daemon.sync.writer import DocumentWriter


class Disk:
    """The far side: records what was saved, on which thread; can be told to fail or stall."""

    def __init__(self):
        self.saved: list = []
        self.threads: list = []
        self.fail_with: OSError | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()   # a save has started (and may be waiting at the gate)

    def save(self, document, wire: bytes) -> None:
        self.entered.set()
        self.gate.wait(5)
        if self.fail_with is not None:
            raise self.fail_with
        self.saved.append(document)
        self.threads.append(threading.get_ident())


def run(scenario):
    return asyncio.run(scenario())




def test_a_write_runs_after_the_callbacks_already_scheduled_and_on_the_loop_thread():
    """An apply wakes the event streams (callbacks scheduled first); the disk write comes
    after them, so the events are not held up by fsync."""
    disk = Disk()

    async def scenario():
        writer = DocumentWriter(disk.save)
        order = []
        asyncio.get_running_loop().call_soon(order.append, "event stream sends")
        writer.write(1, b"x" * 10, lambda: order.append("written"), lambda error: order.append(error))
        assert disk.saved == []               # not during the apply that asked for it
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        writer.close()
        return order

    assert run(scenario) == ["event stream sends", "written"]
    assert disk.saved == [1] and disk.threads == [threading.get_ident()]


def test_large_documents_go_to_a_thread_and_versions_queued_behind_it_are_coalesced_in_order():
    disk = Disk()

    async def scenario():
        writer = DocumentWriter(disk.save, inline_limit=100)
        confirmed = []
        disk.gate.clear()                       # the first (large) write stalls on its thread
        writer.write(1, b"x" * 1000, lambda: confirmed.append(1), print)
        await async_wait_until(disk.entered.is_set)        # its thread is writing it
        for version in (2, 3, 4):               # queue up behind it: only the newest is written
            writer.write(version, b"y", lambda v=version: confirmed.append(v), print)
        disk.gate.set()
        await async_wait_until(lambda: confirmed[-1:] == [4])
        writer.close()
        return confirmed

    confirmed = run(scenario)
    assert disk.saved == [1, 4] and confirmed == [1, 4]
    assert disk.threads[0] != threading.get_ident() and disk.threads[1] == threading.get_ident()


def test_a_failed_write_is_reported_and_the_next_one_still_happens():
    disk = Disk()

    async def scenario():
        writer = DocumentWriter(disk.save)
        outcomes = []
        disk.fail_with = OSError(28, "No space left on device")
        writer.write(1, b"x", lambda: outcomes.append("written 1"), lambda error: outcomes.append(str(error)))
        await async_wait_until(lambda: len(outcomes) == 1)
        disk.fail_with = None
        writer.write(2, b"x", lambda: outcomes.append("written 2"), lambda error: outcomes.append(str(error)))
        await async_wait_until(lambda: len(outcomes) == 2)
        writer.close()
        return outcomes

    assert run(scenario) == ["[Errno 28] No space left on device", "written 2"]
    assert disk.saved == [2]


def test_close_writes_what_is_still_queued():
    disk = Disk()

    async def scenario():
        writer = DocumentWriter(disk.save)
        writer.write(7, b"x", lambda: None, print)
        writer.close()                          # before the loop ran the write

    run(scenario)
    assert disk.saved == [7]
