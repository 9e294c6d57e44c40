"""The rules the HTTP API's schemas share with the worker, so a request is checked by the same
grammar and limits on both sides: reference grammar, tag and name limits, webhook events and
URL rules, job phases, and how a webhook delivery is shown. `api/` imports these from here."""

from __future__ import annotations

from worker.jobs.submit import MAX_EXTRA_TAGS
from worker.jobs.timing import PHASES
from worker.reference import (
    MAX_NAME_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_SLUG_LENGTH,
    REPOSITORY_PATTERN,
    SLUG_PATTERN,
    TAG_PATTERN,
    is_daemon_source,
    parse_reference,
    source_pattern,
    validate_repository,
    validate_slug,
    validate_tag,
)
from worker.webhooks.dispatch import CHAT_EVENTS, is_standing, shown_url
from worker.webhooks.guard import MAX_URL_LENGTH, callback_url_pattern, display_url
from worker.webhooks.subscriptions import EVENTS

__all__ = [
    "CHAT_EVENTS",
    "EVENTS",
    "MAX_EXTRA_TAGS",
    "MAX_NAME_LENGTH",
    "MAX_REFERENCE_LENGTH",
    "MAX_SLUG_LENGTH",
    "MAX_URL_LENGTH",
    "PHASES",
    "REPOSITORY_PATTERN",
    "SLUG_PATTERN",
    "TAG_PATTERN",
    "callback_url_pattern",
    "display_url",
    "is_daemon_source",
    "is_standing",
    "parse_reference",
    "shown_url",
    "source_pattern",
    "validate_repository",
    "validate_slug",
    "validate_tag",
]
