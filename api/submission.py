"""Queueing a push for the caller's key: the one path of POST /v1/pushes and chat commands."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import g

from api import request_audit
from api.parameters import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_PATTERN
from api.policy import RULE_KEY_APPS, enforce
from api.problems import ApiProblem
from api.request_limits import admit, submit_admitted
from api.request_telemetry import request_id
from api.state import state
from worker.errors import InvalidRequest
from worker.facade import (
    Job,
    JobStatus,
    PushRequest,
    bind,
    count_finished,
    job_callback,
    plan_job,
    replayed,
    submit,
    submit_idempotent,
)

log = logging.getLogger("pushgate.api")


def forbid_unless_allowed(app_slug: str) -> None:
    """403 unless the caller's key may push to and read `app_slug`."""
    if not g.api_key.allows(app_slug):
        keys_file = state().settings.api_keys_file
        raise ApiProblem(
            403,
            "forbidden",
            "Forbidden",
            f"this API key may not push to or read app {app_slug!r}",
            rule=RULE_KEY_APPS,
            file=str(keys_file) if keys_file else None,
        )


def checked_job(push: PushRequest) -> Job:
    """The queued Job of `push` for the caller's key (not stored): 403 for a slug, source,
    daemon image or target the key or the app's policy does not allow (`api.policy`), 422 for
    an invalid request."""
    forbid_unless_allowed(push.app_slug)
    st = state()
    job = plan_job(
        push,
        st.settings,
        owner=g.api_key.name,
        targets=st.targets,
        request_id=request_id(),
        apps=st.apps,
    )
    enforce(g.api_key, st.apps, job, st.settings.api_keys_file)
    return job


def _check_idempotency_key(key: str) -> None:
    if len(key) > IDEMPOTENCY_KEY_MAX or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise ApiProblem(
            400,
            "bad-idempotency-key",
            "Bad Idempotency-Key",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII "
            "characters (spaces only inside)",
        )


def checked_callback(push: PushRequest) -> dict[str, Any] | None:
    """The job's `callback` from `callback_url` and `callback_events`, checked for the caller's
    key and the webhook guard (403 or 422 as for a push)."""
    st = state()
    if push.callback_url is not None and g.api_key.webhook_secret_file is None:
        raise ApiProblem(
            403,
            "forbidden",
            "Forbidden",
            "this API key may not set callback_url: it has no webhook secret to sign "
            "callbacks with (the operator sets webhook_secret_file on the key)",
            rule="key.webhook_secret_file",
            file=str(st.settings.api_keys_file) if st.settings.api_keys_file else None,
        )
    if push.callback_url is not None:
        return job_callback(
            push.callback_url,
            push.callback_events,
            g.api_key.webhook_secret_file,
            st.settings.webhook_hosts,
        )
    if push.callback_events is not None:
        raise InvalidRequest("callback_events", "callback_events needs a callback_url")
    return None


def queue_push(
    push: PushRequest, idempotency_key: str | None, chat: dict[str, str] | None = None
) -> tuple[Job, bool]:
    """Check `push` for the caller's key, store and enqueue it: (job, True) when new, (the
    earlier job, False) when `idempotency_key` was used before with the same request."""
    st = state()
    job = checked_job(push)
    job.callback = checked_callback(push)
    job.chat = chat
    bind(job_id=job.id, app_slug=job.app_slug)
    if idempotency_key is not None:
        _check_idempotency_key(idempotency_key)
        earlier = replayed(st.store, job, g.api_key.key_sha256, idempotency_key)
        if earlier is not None:  # a retry gets its job back, whatever the limits say now
            request_audit.mark("push", earlier)
            return earlier, False
    created = True
    if idempotency_key is None and chat is None and st.push_message is not None:
        # limits, record, message, indexes and audit event: one round trip
        event = request_audit.accepted_event(job)
        submit_admitted(job, st.push_message(job.id), event)
        request_audit.mark("push", job, stored=event)
        log.info("push job %s queued: %s -> %s", job.id, job.source, ", ".join(job.destinations))
        return job, created
    admit(job)
    if idempotency_key is not None:
        job, created = submit_idempotent(
            st.store, job, st.enqueue, g.api_key.key_sha256, idempotency_key, st.push_message
        )
    else:
        submit(st.store, job, st.enqueue, st.push_message)
    request_audit.mark("push", job)
    log.info("push job %s queued: %s -> %s", job.id, job.source, ", ".join(job.destinations))
    return job, created


def visible_job(job_id: str) -> Job:
    """The job, if the caller's key may read its app (403 otherwise, 404 when none)."""
    job = state().store.get(job_id)
    forbid_unless_allowed(job.app_slug)
    return job


def cancel_push(job_id: str) -> Job:
    """Cancel the job for the caller: a queued job ends here, a running one is told to stop."""
    request_audit.mark("cancel", visible_job(job_id))
    job = state().store.request_cancel(job_id)
    if job.status is JobStatus.CANCELLED:  # it was queued: it ends here, not in a worker
        count_finished(job.status, "cancelled")
    return job
