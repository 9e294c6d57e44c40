"""What the API keeps per app: settings, the job store, the key ring and the queue sender."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from flask import current_app

from api.keys import KeyRing
from worker.jobs.notify import ChangeFeed
from worker.jobs.store import JobStore
from worker.settings import Settings

EXTENSION = "pushgate"


@dataclass(frozen=True)
class ApiState:
    """The API's collaborators, built once in create_app."""

    settings: Settings
    store: JobStore
    keys: KeyRing
    enqueue: Callable[[str], None]
    feed: ChangeFeed


def state() -> ApiState:
    """The ApiState of the current app."""
    return cast(ApiState, current_app.extensions[EXTENSION])
