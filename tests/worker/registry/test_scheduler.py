"""Stream slots shared by the jobs of a process: the job holding fewest goes next; cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from worker.errors import PushCancelled
from worker.registry.scheduler import StreamSlots, run_all


def _never() -> None:
    return None


def _holder(
    slots: StreamSlots, owner: str, order: list[str], release: threading.Event
) -> threading.Thread:
    def hold() -> None:
        with slots.hold(owner, _never):
            order.append(owner)
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    return thread


def _wait(condition: Callable[[], bool]) -> None:
    event = threading.Event()
    for _ in range(600):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not reached")


def test_a_free_slot_goes_to_the_job_holding_fewest_not_the_first_in_line() -> None:
    slots = StreamSlots(2)
    order: list[str] = []
    first, rest = threading.Event(), threading.Event()
    big = [_holder(slots, "big", order, first), _holder(slots, "big", order, rest)]
    _wait(lambda: slots.in_use() == 2)
    queued = [_holder(slots, "big", order, rest)]  # the 40-layer job asks first
    _wait(lambda: len(slots._waiting) == 1)
    queued.append(_holder(slots, "small", order, rest))
    _wait(lambda: len(slots._waiting) == 2)
    first.set()  # one of big's streams ends
    _wait(lambda: len(order) == 3)
    assert order[2] == "small"
    rest.set()
    for thread in big + queued:
        thread.join(10)
    assert order.count("big") == 3 and slots.in_use() == 0


def test_a_job_waiting_for_a_slot_stops_when_cancelled() -> None:
    slots = StreamSlots(1)
    release = threading.Event()
    holder = _holder(slots, "a", [], release)
    _wait(lambda: slots.in_use() == 1)
    cancelled = threading.Event()

    def stop() -> None:
        if cancelled.is_set():
            raise PushCancelled("cancelled by request while running")

    outcome: list[BaseException] = []

    def wait_for_slot() -> None:
        try:
            with slots.hold("b", stop):
                pass
        except PushCancelled as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_for_slot)
    waiter.start()
    _wait(lambda: len(slots._waiting) == 1)
    cancelled.set()
    waiter.join(10)
    assert outcome and not slots._waiting
    release.set()
    holder.join(10)
    assert slots.in_use() == 0


def test_run_all_raises_the_first_real_failure_and_stops_the_rest() -> None:
    stopped = threading.Event()

    def fails() -> str:
        raise ValueError("blob 2 broke")

    def waits() -> str:
        if not stopped.wait(30):
            return "copied"
        raise PushCancelled("stopped: another blob of this image failed")

    with pytest.raises(ValueError, match="blob 2 broke"):
        run_all([waits, fails, waits], 3, stopped.set)
    assert stopped.is_set()
    assert run_all([lambda: "copied", lambda: "mounted"], 1, stopped.set) == ["copied", "mounted"]
