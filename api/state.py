"""What the API keeps per app: settings, the job store, the key ring, the queue sender, the
caller limits, the audit log, and the chat grants, replay guard and event sender."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from flask import current_app

from api.keys import KeyRing
from worker.facade import (
    AppPolicies,
    AuditLog,
    CallerLimits,
    ChangeFeed,
    Grant,
    Job,
    JobStore,
    ReplayGuard,
    TargetSet,
    WaitSlots,
)
from worker.settings import Settings

EXTENSION = "pushgate"


@dataclass(frozen=True)
class ApiState:
    """The API's collaborators, built once in create_app."""

    settings: Settings
    store: JobStore
    keys: KeyRing
    enqueue: Callable[[str], None]
    enqueue_plan: Callable[[str, float], None]  # a plan's id, and how long its caller waits
    limits: CallerLimits
    audit: AuditLog
    feed: ChangeFeed
    targets: TargetSet
    apps: AppPolicies
    grants: list[Grant]  # PUSHGATE_CHATOPS_FILE
    replays: ReplayGuard  # signed chat requests already seen
    emit: Callable[[str, Job], object]  # an event to a job's subscribers (its chat's "queued")
    waits: WaitSlots  # long-polls per API key, across processes
    wait_threads: threading.BoundedSemaphore  # long-polls in this process
    # job id -> (queue list, push task message): written with the job record in one step
    push_message: Callable[[str], tuple[str, str]] | None = None


def state() -> ApiState:
    """The ApiState of the current app."""
    return cast(ApiState, current_app.extensions[EXTENSION])
