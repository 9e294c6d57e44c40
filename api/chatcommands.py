"""What a chat command does, with exactly the rights of the API key its grant names: queue a
push (the trigger_id its idempotency key), show or cancel a job, or explain itself."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

from flask import g

from api import request_audit
from api.plans import plan_for
from api.problems import ApiProblem, from_domain
from api.state import state
from api.submission import cancel_push, queue_push, visible_job
from worker.errors import PushgateError
from worker.facade import (
    HELP,
    QUEUED,
    CallbackRefused,
    Command,
    CommandError,
    HostPolicy,
    Job,
    bind,
    first_grant,
    job_lines,
    message,
    parse_command,
    plan_lines,
)

log = logging.getLogger("pushgate.chatops")
# Chat platforms want an answer within 3 s: a plan gets this long. A push is answered at once;
# its queued update waits up to QUEUED_PLAN_WAIT for the plan's bytes.
PLAN_WAIT, QUEUED_PLAN_WAIT = 2.0, 15.0


def _chat_user(platform: str, form: dict[str, str]) -> str:
    """Who sent the command, as the audit trail records it."""
    user = f"{platform}:{form.get('team_id', '')}/{form.get('user_id', '')}"
    name = form.get("user_name")
    return f"{user} ({name})"[:200] if name else user


def run_command(platform: str, form: dict[str, str]) -> dict[str, Any]:
    """The answer to a verified slash command (always a message: chat shows nothing else)."""
    g.chat_user = _chat_user(platform, form)
    request_audit.mark("command")  # push and cancel say so when they get that far
    team, channel, user = (form.get(f, "") for f in ("team_id", "channel_id", "user_id"))
    grant = first_grant(state().grants, platform, team, channel, user)
    key = state().keys.named(grant.key) if grant is not None else None
    if key is None:
        request_audit.mark("authenticate")
        g.audit_result, g.audit_reason = "refused", "unmapped"
        if grant is not None:
            log.warning("chat grant names API key %r, which the keys file lacks", grant.key)
        return message(
            platform,
            "Not allowed",
            [
                "You are not mapped to a pushgate API key; ask the operator to add you to "
                "PUSHGATE_CHATOPS_FILE."
            ],
            ephemeral=True,
        )
    g.api_key = key
    bind(key_name=key.name)
    try:
        command = parse_command(form.get("text", ""))
    except CommandError as exc:
        return message(platform, "Cannot read that command", [str(exc), HELP], ephemeral=True)
    try:
        return _run(platform, command, form)
    except ApiProblem as problem:
        return _refused(platform, problem)
    except PushgateError as exc:
        return _refused(platform, from_domain(exc))


def _refused(platform: str, problem: ApiProblem) -> dict[str, Any]:
    g.audit_result, g.audit_reason = "refused", problem.slug
    return message(platform, f"Refused: {problem.title}", [problem.detail], ephemeral=True)


def _run(platform: str, command: Command, form: dict[str, str]) -> dict[str, Any]:
    if command.verb == "status" and command.job_id:
        job = visible_job(command.job_id)
        return message(platform, "Push status", job_lines(job), ephemeral=True)
    if command.verb == "cancel" and command.job_id:
        job = cancel_push(command.job_id)
        return message(platform, "Cancelling push", job_lines(job))
    if command.verb == "push" and command.push is not None:
        return _push(platform, command, form)
    if command.verb == "plan" and command.push is not None:
        return _plan(platform, command)
    return message(platform, "pushgate commands", [HELP], ephemeral=True)


def _plan(platform: str, command: Command) -> dict[str, Any]:
    assert command.push is not None
    try:
        plan = plan_for(command.push, PLAN_WAIT)
    except ApiProblem as problem:
        if problem.status != 504:
            raise
        lines = ["the registries are slow; what was learned so far:"]
        learned = plan_lines(problem.extra["learned"])
        return message(platform, "Plan unfinished", lines + learned, ephemeral=True)
    headline = "Plan: allowed" if plan["allowed"] else "Plan: refused"
    return message(platform, headline, plan_lines(plan), ephemeral=True)


def _announce(job: Job) -> None:
    """Have a worker plan the queued push, then post the queued update with the plan's bytes
    (without them when no plan comes in QUEUED_PLAN_WAIT); the answer does not wait for it."""
    st = state()
    exchange = st.store.plans()
    plan_id = exchange.offer(job, time.time() + QUEUED_PLAN_WAIT)
    st.enqueue_plan(plan_id, QUEUED_PLAN_WAIT)
    emit = st.emit

    def wait_then_post() -> None:
        try:
            plan = exchange.wait(plan_id, QUEUED_PLAN_WAIT)
            if plan is not None and plan["allowed"] and job.chat is not None:
                job.chat["planned_bytes"] = str(plan.get("bytes_to_send", 0))
            emit(QUEUED, job)
        except Exception:  # the push goes on; only its first chat update is lost
            log.exception("push job %s: the queued chat update could not be posted", job.id)

    threading.Thread(target=wait_then_post, name="chat-queued", daemon=True).start()


def _idempotency_key(platform: str, trigger_id: str) -> str | None:
    """The push's Idempotency-Key: the command's trigger_id, so a retry never pushes twice."""
    if not trigger_id:
        return None
    return f"{platform}-trigger:{hashlib.sha256(trigger_id.encode()).hexdigest()}"


def _push(platform: str, command: Command, form: dict[str, str]) -> dict[str, Any]:
    assert command.push is not None
    request_audit.mark("push")
    response_url = form.get("response_url", "")
    try:
        hosts = state().settings.chat.response_hosts
        HostPolicy(hosts, setting="PUSHGATE_CHATOPS_RESPONSE_HOSTS").check_url(response_url)
    except CallbackRefused as exc:
        raise ApiProblem(
            422,
            "response-url-refused",
            "response_url not allowed",
            f"response_url refused: {exc}",
        ) from None
    job, created = queue_push(
        command.push,
        _idempotency_key(platform, form.get("trigger_id", "")),
        chat={"url": response_url, "platform": platform},
    )
    g.audit_result = "accepted" if created else "replayed"
    if created:
        _announce(job)
    headline = "Push queued" if created else "Already queued (the same command)"
    return message(platform, headline, job_lines(job), ephemeral=True)
