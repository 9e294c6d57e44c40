"""Job change notifications over Redis pub/sub: the store publishes, long-poll waiters wake."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from worker.jobs.keys import CHANGE_CHANNEL_PREFIX as CHANNEL_PREFIX

log = logging.getLogger(__name__)

_RECONNECT_WAIT = 1.0


def channel(job_id: str) -> str:
    """The pub/sub channel announcing changes of one job."""
    return CHANNEL_PREFIX + job_id


def publish_change(client: redis.Redis, job_id: str) -> None:
    """Tell waiters the job changed; best effort, since a lost message only delays a waiter."""
    try:
        client.publish(channel(job_id), "1")
    except redis.RedisError as exc:
        log.warning("could not announce a change of job %s: %s", job_id, exc)


class ChangeFeed:
    """One pattern subscription per process that wakes the threads waiting on a job.

    A waiter registers (`watch`) before it reads the job, so a change published after that
    read always sets its event. After a lost connection every waiter is woken to re-read.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, job_id: str, ready_timeout: float = 5.0) -> Iterator[threading.Event]:
        """An event set whenever `job_id` changes, for the duration of the block."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(job_id, set()).add(event)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._listen, name="job-feed", daemon=True)
                self._thread.start()
        try:
            self._subscribed.wait(ready_timeout)
            yield event
        finally:
            with self._lock:
                events = self._waiters.get(job_id, set())
                events.discard(event)
                if not events:
                    self._waiters.pop(job_id, None)

    def waiting(self) -> int:
        """How many waiters are registered now."""
        with self._lock:
            return sum(len(events) for events in self._waiters.values())

    def _wake(self, job_id: str | None) -> None:
        with self._lock:
            if job_id is None:
                events = [e for group in self._waiters.values() for e in group]
            else:
                events = list(self._waiters.get(job_id, ()))
        for event in events:
            event.set()

    def _listen(self) -> None:
        stop = threading.Event()  # never set: the feed lives as long as the process
        while True:
            try:
                with self.client.pubsub() as pubsub:  # type: ignore[no-untyped-call]
                    pubsub.psubscribe(CHANNEL_PREFIX + "*")
                    while True:
                        message = pubsub.get_message(timeout=5.0)
                        if message is None:
                            continue
                        if message["type"] == "psubscribe":
                            self._subscribed.set()
                            self._wake(None)  # changes may have been missed while away
                        elif message["type"] == "pmessage":
                            name = str(message["channel"])
                            self._wake(name.removeprefix(CHANNEL_PREFIX))
            except redis.RedisError as exc:
                self._subscribed.clear()
                self._wake(None)
                log.warning("job change feed lost its Redis connection: %s", exc)
                stop.wait(_RECONNECT_WAIT)
