"""The long-poll cap: a wait holds one of its API key's PUSHGATE_MAX_WAITS_PER_KEY leases
(across every API process) and one of this process's PUSHGATE_MAX_WAITS_PER_PROCESS slots, so
waits never take every thread and the probes are always answered; beyond either, a 429."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import g

from api.problems import ApiProblem
from api.state import state
from worker.errors import StoreUnavailable
from worker.facade import LONG_POLLS_REFUSED

RETRY_AFTER = "2"


def _refuse(detail: str) -> ApiProblem:
    LONG_POLLS_REFUSED.inc()
    return ApiProblem(
        429,
        "too-many-waits",
        "Too many waits",
        f"{detail}; ask again without `wait`, or after Retry-After",
        {"Retry-After": RETRY_AFTER},
    )


@contextlib.contextmanager
def wait_slot(seconds: float) -> Iterator[None]:
    """Hold a wait of up to `seconds` for the caller's key, or raise the 429."""
    st, key = state(), g.api_key
    if not st.wait_threads.acquire(blocking=False):
        raise _refuse("this API process is holding all the waits it may")
    try:
        limit = st.settings.waits.per_key
        token = st.waits.take(key.key_sha256, limit, seconds)
        if token is None:
            raise _refuse(f"this API key already holds {limit} waits at once")
        try:
            yield
        finally:
            with contextlib.suppress(StoreUnavailable):  # the lease expires on its own
                st.waits.give_back(key.key_sha256, token)
    finally:
        st.wait_threads.release()
