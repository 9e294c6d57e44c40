"""Fan an event out to its subscribers, make one delivery attempt at a time, schedule retries on
the Standard Webhooks schedule, and resend deliveries whose task was lost (a crashed worker)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.chatops.messages import QUEUED, event_message
from worker.errors import ConfigurationError
from worker.jobs.deliveries import (
    DELIVERED,
    DISABLED,
    FAILED,
    GONE,
    PENDING,
    Delivery,
    DeliveryRecords,
)
from worker.jobs.model import Job
from worker.loops import Loop
from worker.prometheus_metrics import count_delivery
from worker.settings import Settings
from worker.timestamps import format_time, utcnow
from worker.webhooks.guard import HostPolicy, display_url
from worker.webhooks.payload import render
from worker.webhooks.sender import Attempt, post, signed_headers
from worker.webhooks.subscriptions import END_EVENTS, EVENTS, Subscription, read_secret

log = logging.getLogger(__name__)
CALLBACK = "callback"  # the subscription name of a job's own callback_url
CHAT = "chat:response_url"  # the subscription name of a chat command's response_url
CHAT_EVENTS = (QUEUED, *EVENTS)
CHAT_FORMAT = "chat-"  # + the platform: Block Kit for Slack, Markdown text for Mattermost
SEND_GRACE = 5.0  # a new delivery whose task could not be sent is resent after this
Send = Callable[[str], None]


def lease_for(timeout: float) -> float:
    """How long an attempt may hold a delivery before another worker takes it over:
    connect, write and read may each take the timeout."""
    return 3 * timeout + 5


def message_id(job_id: str, event: str, subscription: str) -> str:
    """The webhook-id of an event for a subscriber: the same on every retry and re-emit."""
    digest = hashlib.sha256(f"{job_id}\0{event}\0{subscription}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def is_chat(delivery: Delivery) -> bool:
    """True for an update to a chat command's response_url (no standing subscription has a
    chat format)."""
    return delivery.format.startswith(CHAT_FORMAT)


def is_standing(delivery: Delivery) -> bool:
    """True for a delivery to a standing subscription of the webhooks file."""
    return delivery.subscription != CALLBACK and not is_chat(delivery)


def shown_url(delivery: Delivery) -> str:
    """Where a delivery goes, as logs show it: no query or user info, and for a chat's
    response_url or a standing subscription (a Slack incoming webhook keeps its secret in
    the path) only the scheme and host."""
    url = display_url(delivery.url)
    if is_chat(delivery) or is_standing(delivery):
        return url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + "/…"
    return url


def _body(event: str, job: Job, fmt: str, timestamp: str) -> str:
    if fmt.startswith(CHAT_FORMAT):
        return event_message(fmt.removeprefix(CHAT_FORMAT), event, job)
    return render(event, job, fmt, timestamp)


@dataclass(frozen=True)
class _Receiver:
    """Who hears of an event: a job's callback, its chat, or a standing subscription."""

    name: str
    url: str
    secret_file: str
    format: str
    guarded: bool


class Dispatcher:
    """Creates deliveries for events and makes their attempts; no Celery in here."""

    def __init__(
        self,
        settings: Settings,
        records: DeliveryRecords,
        subscriptions: list[Subscription],
        send: Send,
    ) -> None:
        self.records, self.subscriptions, self.send = records, subscriptions, send
        self.policy = HostPolicy(settings.webhook_hosts)
        self.chat_policy = HostPolicy(
            settings.chat.response_hosts, setting="PUSHGATE_CHATOPS_RESPONSE_HOSTS"
        )
        self.timeout = settings.webhook_timeout
        self.schedule = settings.webhook_retry_schedule
        self.lease = lease_for(settings.webhook_timeout)

    def _receivers(self, event: str, job: Job) -> Iterator[_Receiver]:
        chat = job.chat or {}
        if chat.get("url") and event in CHAT_EVENTS:
            yield _Receiver(CHAT, chat["url"], "", CHAT_FORMAT + chat["platform"], True)
        callback = job.callback or {}
        if callback.get("url") and event in callback.get("events", END_EVENTS):
            yield _Receiver(
                CALLBACK, str(callback["url"]), str(callback["secret_file"]), "standard", True
            )
        for sub in self.subscriptions:
            if sub.wants(event, job.app_slug) and not self.records.disabled(sub.name, sub.url):
                secret = str(sub.secret_file or "")
                yield _Receiver(sub.name, sub.url, secret, sub.format, False)

    def emit(self, event: str, job: Job) -> list[str]:
        """Create a delivery per subscriber of `event` (once: re-emitting is harmless) and
        send the new ones; returns their ids."""
        timestamp = format_time(utcnow())
        created = []
        for receiver in self._receivers(event, job):
            delivery = Delivery(
                id=message_id(job.id, event, receiver.name),
                job_id=job.id,
                event=event,
                subscription=receiver.name,
                url=receiver.url,
                format=receiver.format,
                secret_file=receiver.secret_file,
                guarded=receiver.guarded,
                body=_body(event, job, receiver.format, timestamp),
                created_at=timestamp,
            )
            if self.records.create(delivery, due=time.time() + SEND_GRACE):
                created.append(delivery.id)
        for delivery_id in created:
            try:
                self.send(delivery_id)
            except Exception as exc:
                log.warning("webhook %s not queued yet (%s): resent shortly", delivery_id, exc)
        return created

    def deliver(self, delivery_id: str) -> Delivery | None:
        """Make one attempt if the delivery is due and not in flight; record the outcome."""
        token = uuid.uuid4().hex
        if not self.records.claim(delivery_id, token, self.lease):
            return None
        delivery = self.records.get(delivery_id)
        if delivery is None:
            return None
        where = shown_url(delivery)
        standing = delivery.subscription != CALLBACK and not is_chat(delivery)
        if standing and self.records.disabled(delivery.subscription, delivery.url):
            self.records.finish(
                delivery_id, token, DISABLED, last_error="subscription disabled (410 Gone)"
            )
            count_delivery(DISABLED)
            log.info("webhook %s to %s: subscription disabled, not sent", delivery_id, where)
            return self.records.get(delivery_id)
        attempt = self._attempt(delivery)
        self._record(delivery, token, attempt)
        log.info(
            "webhook %s %s to %s: attempt %d: %s",
            delivery_id,
            delivery.event,
            where,
            delivery.attempts,
            attempt.status if attempt.status is not None else attempt.error,
        )
        return self.records.get(delivery_id)

    def _attempt(self, delivery: Delivery) -> Attempt:
        headers: dict[str, str] = {}
        if delivery.format == "standard":
            try:
                secret = read_secret(Path(delivery.secret_file))
            except ConfigurationError as exc:
                return Attempt(None, str(exc))
            headers = signed_headers(secret, delivery.id, delivery.body, time.time())
        policy = self.policy if delivery.guarded else None
        if is_chat(delivery):
            policy = self.chat_policy
        return post(delivery.url, delivery.body, headers, self.timeout, policy)

    def _record(self, delivery: Delivery, token: str, attempt: Attempt) -> None:
        fields: dict[str, Any] = {"last_status": attempt.status, "last_error": attempt.error}
        if attempt.status is not None and not attempt.delivered:
            fields["last_error"] = f"answered {attempt.status}" + (
                " (redirects are not followed)" if 300 <= attempt.status < 400 else ""
            )
        if attempt.delivered:
            count_delivery(DELIVERED)
            self.records.finish(
                delivery.id, token, DELIVERED, delivered_at=format_time(utcnow()), **fields
            )
        elif attempt.status == 410:
            if delivery.subscription != CALLBACK and not is_chat(delivery):
                self.records.disable(delivery.subscription, delivery.url)
                log.warning(
                    "webhook subscription %s answered 410 Gone: disabled", delivery.subscription
                )
            count_delivery(GONE)
            self.records.finish(delivery.id, token, GONE, **fields)
        elif delivery.attempts <= len(self.schedule):
            count_delivery("retrying")
            delay = max(self.schedule[delivery.attempts - 1], attempt.retry_after or 0.0)
            self.records.finish(delivery.id, token, PENDING, time.time() + delay, **fields)
        else:
            count_delivery(FAILED)
            self.records.finish(delivery.id, token, FAILED, **fields)


class DeliveryScheduler:
    """Sends the task of every delivery that is due: retries, and attempts a lost worker left."""

    def __init__(self, records: DeliveryRecords, send: Send, lease: float, interval: float) -> None:
        self.records, self.send, self.lease, self.interval = records, send, lease, interval
        self._loop = Loop(
            "pushgate-webhooks",
            interval,
            self.run_once,
            what="webhook scheduler",
            log=log,
            jitter=0.2,
        )

    def run_once(self) -> list[str]:
        """One pass: the ids whose task was sent."""
        sent = []
        for delivery_id in self.records.due(self.lease):
            try:
                self.send(delivery_id)
                sent.append(delivery_id)
            except Exception as exc:  # its schedule entry comes due again after the lease
                log.warning("webhook %s could not be queued: %s", delivery_id, exc)
        return sent

    def start(self) -> threading.Thread:
        """Run passes in a daemon thread until stop()."""
        return self._loop.start()

    def stop(self) -> None:
        """End the loop after the current pass."""
        self._loop.stop()
