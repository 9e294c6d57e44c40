"""The worker as the HTTP API uses it: jobs (model, store, submission, plans, policy, audit,
limits, long-poll waits), the tasks it queues, webhook and chat-ops pieces its endpoints
answer with, the start-up check, logs and metrics.

`api/` imports the worker only from here, `worker.settings`, `worker.errors` and
`worker.schema_rules` (tests/worker/test_layering.py holds it to that), so what the API may
reach is this one list; anything new it needs is added here, where a reviewer sees it."""

from __future__ import annotations

from worker.apps import AppPolicies, Verdict, first_refusal
from worker.celery import (
    QUEUE,
    create_celery,
    enqueue_delivery,
    enqueue_plan,
    enqueue_push,
    push_message,
)
from worker.chatops.commands import HELP, Command, CommandError, parse_command
from worker.chatops.grants import Grant, first_grant
from worker.chatops.messages import MATTERMOST, QUEUED, SLACK, job_lines, message, plan_lines
from worker.jobs.audit import AuditLog, AuditPage, cut_fields
from worker.jobs.limits import CallerLimits, Refusal
from worker.jobs.model import Job, JobPage, JobStatus
from worker.jobs.notify import ChangeFeed
from worker.jobs.planning import plan_document, verdict
from worker.jobs.policy import job_verdicts
from worker.jobs.replays import ReplayGuard
from worker.jobs.store import JobStore
from worker.jobs.submit import PushRequest, plan_job, replayed, submit, submit_idempotent
from worker.jobs.waits import WaitSlots
from worker.logs import bind, clear, current_format
from worker.policies import LogFormat
from worker.prometheus_metrics import (
    AUTH_FAILURES,
    HTTP_DURATION,
    HTTP_REQUESTS,
    LONG_POLLS_REFUSED,
    JobsCollector,
    count_finished,
    http_labels,
    scrape_registry,
)
from worker.redaction import install_log_redaction, register_secret
from worker.startup import check_startup
from worker.targets import TargetSet
from worker.timestamps import format_time, utcnow
from worker.webhooks.dispatch import Dispatcher
from worker.webhooks.guard import CallbackRefused, HostPolicy
from worker.webhooks.subscriptions import job_callback, read_secret

__all__ = [
    "AUTH_FAILURES",
    "HELP",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "LONG_POLLS_REFUSED",
    "MATTERMOST",
    "QUEUE",
    "QUEUED",
    "SLACK",
    "AppPolicies",
    "AuditLog",
    "AuditPage",
    "CallbackRefused",
    "CallerLimits",
    "ChangeFeed",
    "Command",
    "CommandError",
    "Dispatcher",
    "Grant",
    "HostPolicy",
    "Job",
    "JobPage",
    "JobStatus",
    "JobStore",
    "JobsCollector",
    "LogFormat",
    "PushRequest",
    "Refusal",
    "ReplayGuard",
    "TargetSet",
    "Verdict",
    "WaitSlots",
    "bind",
    "check_startup",
    "clear",
    "count_finished",
    "create_celery",
    "current_format",
    "cut_fields",
    "enqueue_delivery",
    "enqueue_plan",
    "enqueue_push",
    "first_grant",
    "first_refusal",
    "format_time",
    "http_labels",
    "install_log_redaction",
    "job_callback",
    "job_lines",
    "job_verdicts",
    "message",
    "parse_command",
    "plan_document",
    "plan_job",
    "plan_lines",
    "push_message",
    "read_secret",
    "register_secret",
    "replayed",
    "scrape_registry",
    "submit",
    "submit_idempotent",
    "utcnow",
    "verdict",
]
