"""Plans between the API and a worker: the API offers the planned job and waits for the answer;
the worker that plans it posts what it learned as it goes, then the answer. Only the plan's id
travels in the task message."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from worker.errors import DeadlineExceeded
from worker.jobs import keys
from worker.jobs.connection import StoreConnection, guard
from worker.jobs.model import Job
from worker.registry.blobs import StopCheck

if TYPE_CHECKING:  # redis-py's own field types, for the type checker only
    from redis.typing import EncodableT, FieldT

log = logging.getLogger(__name__)
Document = dict[str, Any]
Learned = Callable[[Document], None]

TTL = 300  # a plan's keys outlive any wait for it
SLICE = 2  # seconds per BLPOP, under the connection's socket timeout


class PlanExchange:
    """The Redis keys of plans in flight: the job, what was learned, the answer."""

    def __init__(self, connection: StoreConnection) -> None:
        self.redis = connection.client

    @staticmethod
    def _key(plan_id: str, part: str) -> str:
        return keys.plan(plan_id, part)

    def offer(self, job: Job, deadline: float) -> str:
        """Store the job to plan (with the time the answer is due) and return the plan's id."""
        plan_id = uuid.uuid4().hex
        key = self._key(plan_id, "job")
        with guard(), self.redis.pipeline(transaction=True) as pipe:
            # Built field by field: redis-py's mapping type takes no dict[str, str] (dict keys
            # are invariant), and silencing the checker would hide a real mistake here.
            record: dict[FieldT, EncodableT] = {
                field: value for field, value in job.to_record().items()
            }
            record["plan_deadline"] = str(deadline)
            pipe.hset(key, mapping=record)
            pipe.expire(key, TTL)
            pipe.execute()
        return plan_id

    def job(self, plan_id: str) -> tuple[Job, float] | None:
        """The job to plan and the epoch time its answer is due; None once it expired."""
        with guard():
            found = self.redis.hgetall(self._key(plan_id, "job"))
        if not found:
            return None
        record = {str(k): str(v) for k, v in found.items()}
        deadline = float(record.pop("plan_deadline", "0"))
        return Job.from_record(record), deadline

    def learned(self, plan_id: str, document: dict[str, Any]) -> None:
        """Keep the plan as far as it got, for a caller whose wait ends first."""
        with guard():
            self.redis.set(self._key(plan_id, "learned"), json.dumps(document), ex=TTL)

    def answer(self, plan_id: str, document: dict[str, Any]) -> None:
        """Post the finished plan to whoever waits for it."""
        key = self._key(plan_id, "answer")
        with guard(), self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(document))
            pipe.expire(key, TTL)
            pipe.execute()

    def wait(self, plan_id: str, timeout: float) -> dict[str, Any] | None:
        """The finished plan, or None when `timeout` seconds pass first."""
        key = self._key(plan_id, "answer")
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            with guard():
                found = self.redis.blpop([key], timeout=min(SLICE, left))
            if found is not None:
                return dict(json.loads(found[1]))
        return None

    def so_far(self, plan_id: str) -> dict[str, Any] | None:
        """What the planner had learned when last it said."""
        with guard():
            text = self.redis.get(self._key(plan_id, "learned"))
        return dict(json.loads(text)) if text else None


def answer_plan(
    exchange: PlanExchange, plan_id: str, plan: Callable[[Job, StopCheck, Learned], Document]
) -> None:
    """Plan the offered job with `plan` until its answer is due, posting what is learned."""
    found = exchange.job(plan_id)
    if found is None:
        log.warning("plan %s expired before a worker took it", plan_id)
        return
    job, deadline = found

    def should_stop() -> None:
        if time.time() > deadline:
            raise DeadlineExceeded("the plan's wait is over")

    try:
        document = plan(job, should_stop, partial(exchange.learned, plan_id))
    except DeadlineExceeded:
        log.info("plan %s: given up at its deadline; the caller has what was learned", plan_id)
        return
    exchange.answer(plan_id, document)
