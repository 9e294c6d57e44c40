"""The live pushgate of the contract tests: what the fixture starts and the tests read."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from tests.support.services import Process, Registry

API_KEY = "contract-key-7d1c9a"
# The contract key's rate (pushes a minute) and active jobs: far above what one run sends.
CONTRACT_LIMIT = 1_000_000
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"contract-webhook-secret-0123").decode()
# Slack's signing secret and Mattermost's command token of the contract service.
CHAT_SECRET = "contract-chat-" + "5e1f" * 8
MATTERMOST_TOKEN = "contract-mattermost-" + "a7c3" * 6
# The one callback host: it resolves without DNS, so the served pattern says all there is to
# say about which callback_url is accepted.
WEBHOOK_HOST = "localhost:*,127.0.0.1"  # PUSHGATE_WEBHOOK_HOSTS of the contract service


@dataclass
class LiveApi:
    """A running pushgate: its base URL, the key, and its processes."""

    url: str
    api_key: str
    source: Registry
    processes: list[Process]

    def logs(self) -> str:
        """Everything the API and the worker logged so far."""
        return "\n".join(p.log.read_text(errors="replace") for p in self.processes)
