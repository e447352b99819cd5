"""The monitor's consumer thread: what a response does not wait for, off the request path.

The request path appends one tuple (a request's rows, probabilities, scores, confidence, time)
to a :class:`queue.SimpleQueue` (a C-level append, no lock taken in Python) and returns; one
daemon thread takes the events in order and runs the change detectors, the probing detectors,
the metrics and the alerts on them. One thread and FIFO order keep every detector's state what
the same sequence builds inline, so alerts fire at the same requests. A backlog past
``MAX_BACKLOG`` events (the consumer cannot keep up) drops new events, counted and logged once,
rather than growing without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("cpmap.monitor")

MAX_BACKLOG = 100_000
# (seq, client, x, probs, scores, confidence, monotonic time, refused, abstained, version)
Event = tuple[int, str, Any, Any, Any, Any, float, bool, bool, Any]


class Consumer:
    """One thread applying ``process`` to each event, in the order they were put."""

    def __init__(self, process: Callable[[Event], None]) -> None:
        self._process = process
        self._q: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.put_count = 0  # written by the request path only
        self.done = 0  # written by the consumer only
        self.dropped = 0

    def put(self, event: Event) -> None:
        if self.put_count - self.done >= MAX_BACKLOG:
            if not self.dropped:
                log.error("monitor consumer %d events behind: dropping events (detectors "
                          "and alerts miss them)", MAX_BACKLOG)
            self.dropped += 1
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="cpmap-monitor",
                                            daemon=True)
            self._thread.start()
        self.put_count += 1
        self._q.put(event)

    def _work(self) -> None:
        while (event := self._q.get()) is not None:
            try:
                self._process(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the monitor
                log.exception("monitor: judging request %s failed", event[0])
            finally:
                self.done += 1

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event put so far is processed (tests, the demo, shutdown)."""
        end = time.monotonic() + timeout
        while self.done < self.put_count and time.monotonic() < end:
            time.sleep(0.002)

    def close(self) -> None:
        self.drain()
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(2.0)
            self._thread = None
