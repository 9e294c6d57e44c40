"""The API keys the API tests hold, and the headers that present one."""

from __future__ import annotations

KEYS = {
    "ci-key-myapp-0001": ["myapp"],
    "ops-key-all-0002": ["*"],
    "bot-key-other-0003": ["otherapp"],
}


def auth(key: str = "ci-key-myapp-0001") -> dict[str, str]:
    """Headers carrying an API key."""
    return {"Authorization": f"Bearer {key}"}
