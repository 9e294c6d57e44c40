"""The one start-up check: the API and every worker process call `check_startup` before they
serve. Each configured file is read and checked once, and a bad one stops the start with a
ConfigurationError naming the file and the field (Settings.from_env() checked the variables).

A new file is one field of `Configuration` and one line of `check_startup`: whoever runs with
it (the API's state, the worker's context) then takes it from the result."""

from __future__ import annotations

from dataclasses import dataclass

from worker.apps import AppPolicies
from worker.apps_file import check_policies
from worker.chatops.grants import Grant, load_grants
from worker.settings import Settings
from worker.targets import TargetSet
from worker.webhooks.subscriptions import Subscription, load_subscriptions


@dataclass(frozen=True)
class Configuration:
    """What the configured files say, read and checked once per process."""

    targets: TargetSet
    apps: AppPolicies
    subscriptions: list[Subscription]
    grants: list[Grant]


def check_startup(settings: Settings) -> Configuration:
    """Read and check every configured file: targets (PUSHGATE_TARGETS_FILE), apps
    (PUSHGATE_APPS_FILE), webhooks (PUSHGATE_WEBHOOKS_FILE) and chat grants
    (PUSHGATE_CHAT_GRANTS_FILE). ConfigurationError names the file and the field."""
    subscriptions = load_subscriptions(settings.webhooks_file)
    targets, apps = check_policies(settings)
    grants = load_grants(settings.chat.grants_file)
    return Configuration(targets, apps, subscriptions, grants)
