"""An open blob upload session: PATCH chunks, read its status, commit with the digest, cancel.

The registry may move a session with every answer; the session follows its Location header.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx

from worker.errors import PushError, RejectedError
from worker.registry.client import RegistryClient
from worker.registry.phases import BLOB_TRANSFER, timed_as
from worker.registry.request import RegistryRequest

_OCTETS = "application/octet-stream"
_RANGE_RE = re.compile(r"^(?:bytes=)?\d+-(-?\d+)$")


def held_bytes(range_header: str | None, known: int) -> int:
    """How many bytes an upload holds per its Range header, `known` deciding an ambiguous answer.

    Distribution answers `0-0` both for an empty upload and for one holding a single byte, so
    `0-0` means one byte only when we know one was sent and acknowledged (`known` >= 1).
    """
    match = _RANGE_RE.match((range_header or "").strip())
    if match is None:
        return 0
    end = int(match.group(1))
    return min(known, 1) if end == 0 else max(end + 1, 0)


def location_of(client: RegistryClient, response: httpx.Response) -> str:
    """The absolute URL of the upload named by a response's Location header."""
    location = response.headers.get("Location")
    if not location:
        raise RejectedError(f"{client.registry} opened an upload without a Location header")
    return str(httpx.URL(client.base_url).join(location))


class Upload:
    """One upload session on the registry `client` talks to, at its current location."""

    def __init__(
        self, client: RegistryClient, scopes: tuple[str, ...], location: str, min_chunk: int = 0
    ) -> None:
        self.client = client
        self.scopes = scopes
        self.location = location
        self.min_chunk = min_chunk  # the registry's OCI-Chunk-Min-Length, 0 when unstated
        self.acknowledged = 0  # bytes the registry confirmed holding in a PATCH answer

    @timed_as(BLOB_TRANSFER)
    def patch(
        self,
        body: Iterator[bytes],
        *,
        what: str,
        span: tuple[int, int] | None = None,
        take_slot: bool = True,
    ) -> int:
        """PATCH bytes into the session; `span` (start, end) sends them as that Content-Range.

        Returns how many bytes the registry says the session holds now (`end` if it does not say).
        """
        headers = {"Content-Type": _OCTETS}
        if span is not None:
            start, end = span
            headers["Content-Range"] = f"{start}-{end - 1}"
            headers["Content-Length"] = str(end - start)
        request = RegistryRequest(
            "PATCH",
            self.location,
            self.scopes,
            what,
            headers=headers,
            content=body,
            ok=(202, 204),
            take_slot=take_slot,
        )
        with self.client.open(request) as answer:
            self.location = location_of(self.client, answer)
            stated = answer.headers.get("Range")
        expected = span[1] if span is not None else None
        if stated:  # without a span we only know the body was not empty
            self.acknowledged = held_bytes(stated, 1 if expected is None else expected)
        elif expected is not None:
            self.acknowledged = expected
        return self.acknowledged

    @timed_as(BLOB_TRANSFER)
    def commit(
        self,
        digest: str,
        body: bytes | Iterator[bytes] | None = None,
        *,
        what: str,
        length: int | None = None,
        take_slot: bool = True,
    ) -> None:
        """Close the session as blob `digest` (the `?digest=` PUT), with the last bytes if any."""
        if body is None:
            headers = {"Content-Length": "0"}
        else:
            headers = {"Content-Type": _OCTETS}
            if length is not None:
                headers["Content-Length"] = str(length)
        self.client.send(
            RegistryRequest(
                "PUT",
                httpx.URL(self.location).copy_merge_params({"digest": digest}),
                self.scopes,
                what,
                headers=headers,
                content=body,
                ok=(201, 204),
                take_slot=take_slot,
            )
        )

    def held(self, what: str) -> int:
        """How many bytes the registry holds for this session (it may move the session).

        `Range: 0-0` on a session with nothing acknowledged is an empty upload, not one byte.
        """
        response = self.client.send(
            RegistryRequest("GET", self.location, self.scopes, what, ok=(204, 200))
        )
        self.location = location_of(self.client, response)
        return held_bytes(response.headers.get("Range"), self.acknowledged)

    def cancel(self) -> None:
        """Best-effort DELETE, so the registry does not keep an abandoned upload's bytes."""
        # If this fails too, the registry purges stale uploads on its own schedule.
        with contextlib.suppress(PushError):
            self.client.send(
                RegistryRequest(
                    "DELETE",
                    self.location,
                    self.scopes,
                    "cancelling an upload",
                    ok=(204, 200, 202, 404),
                )
            )
