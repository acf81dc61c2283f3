"""The event bus behind ``/1.0/events``: lifecycle, operation and logging events."""
from __future__ import annotations

import collections
import contextlib
import threading
from typing import Callable

from mockserver.wire import go_timestamp, now_utc

EVENT_TYPES = ("lifecycle", "operation", "logging")

Subscriber = Callable[[dict], None]


class EventBus:
    """Publishes LXD Event objects to subscribers and keeps a bounded history.

    Subscribers are called in the publishing thread and must not block (the websocket
    bridge hands events to its loop with ``call_soon_threadsafe``).
    """

    def __init__(self, location: Callable[[], str], history: int = 1000):
        self._location = location
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self.history: collections.deque = collections.deque(maxlen=history)
        self._holder: Callable | None = None
        self._replaying = False

    def hold_writes(self, holder: Callable | None) -> None:
        """Hand the lifecycle events of writes (they carry a requestor) to ``holder`` as
        (action, source, context, requestor) instead of publishing them; None publishes
        again. A pack's leader publishes a write's events once a majority holds the write,
        replaying them with :meth:`replaying`, as every member does."""
        self._holder = holder

    @contextlib.contextmanager
    def replaying(self):
        """Publish what is emitted meanwhile, held or not (events of a version made visible)."""
        self._replaying = True
        try:
            yield
        finally:
            self._replaying = False

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event_type: str, metadata: dict, *, project: str | None = "default",
                location: str | None = None) -> dict:
        """``location``: the member the event is about, when not this one (LXD sends the
        events of an evacuation or a rename from the target member)."""
        event = {"type": event_type, "timestamp": go_timestamp(now_utc()), "metadata": metadata,
                 "location": location or self._location()}
        if project is not None:
            event["project"] = project
        if event_type != "logging":  # the history is for what changed, not for every request
            self.history.append(event)
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)
        return event

    def lifecycle(self, action: str, source: str, requestor: dict | None, context: dict | None = None,
                  location: str | None = None) -> dict:
        """Emit a lifecycle event; field order follows LXD's EventLifecycle struct."""
        metadata = {"action": action, "source": source}
        if context is not None:
            metadata["context"] = context
        if requestor is not None:
            metadata["requestor"] = requestor
            if self._holder is not None and not self._replaying:
                self._holder((action, source, context, requestor))
                return {"type": "lifecycle", "metadata": metadata}
        return self.publish("lifecycle", metadata, location=location)

    def log(self, level: str, message: str, context: dict) -> None:
        """Emit a logging event, as LXD streams its log; skipped when nobody listens."""
        if self._subscribers:
            self.publish("logging", {"message": message, "level": level, "context": context}, project=None)

    def clear(self) -> None:
        self.history.clear()
