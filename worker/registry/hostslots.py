"""Process-wide request slots per registry host, shared by every client of that host."""

from __future__ import annotations

import threading

# One limit per registry host for the whole worker process, however many jobs and blob
# threads share it: registries throttle (429) clients that open too many connections.
_host_slots: dict[str, threading.BoundedSemaphore] = {}
_host_slots_lock = threading.Lock()


def host_slots(host: str, size: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore limiting concurrent requests to `host` (first size wins)."""
    with _host_slots_lock:
        slots = _host_slots.get(host)
        if slots is None:
            slots = _host_slots[host] = threading.BoundedSemaphore(size)
        return slots
