"""One registry request as a value: what to send, what counts as success, how to send it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx

SUCCESS = (200, 201, 202, 204)


@dataclass(frozen=True)
class RegistryRequest:
    """A request to a registry, with the token scopes it needs and a phrase for messages.

    A body given as an iterator is sent once and never retried. `take_slot` False is for a
    request made while this thread already holds a slot on the same host.
    """

    method: str
    url: str | httpx.URL
    scopes: tuple[str, ...]
    what: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    content: bytes | Iterator[bytes] | None = None
    ok: tuple[int, ...] = SUCCESS
    follow_redirects: bool = False
    take_slot: bool = True
    max_body: int | None = None  # a longer answer is refused unread (RejectedError)

    @property
    def replayable(self) -> bool:
        """True when the body can be sent again (bytes or nothing, not a stream)."""
        return not isinstance(self.content, Iterator)
