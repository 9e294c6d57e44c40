"""The API keys the API tests hold, and the headers that present one."""

from __future__ import annotations

import base64

KEYS = {
    "ci-key-myapp-0001": ["myapp"],
    "ops-key-all-0002": ["*"],
    "bot-key-other-0003": ["otherapp"],
    "hook-key-myapp-0004": ["myapp"],  # has a webhook secret: may set callback_url
}
HOOK_KEY = "hook-key-myapp-0004"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"api-test-webhook-secret-0123").decode()
# Receivers listen on loopback ports of their own: each address and any port, listed.
WEBHOOK_HOSTS = frozenset({"127.0.0.1:*", "localhost:*"})


def auth(key: str = "ci-key-myapp-0001") -> dict[str, str]:
    """Headers carrying an API key."""
    return {"Authorization": f"Bearer {key}"}
