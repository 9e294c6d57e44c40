"""Reading registry answers without trusting their size: manifests and token answers are
capped as distribution caps manifests (4 MiB) and refused beyond, without being held; error
bodies are only shown cut, so only their start is read."""

from __future__ import annotations

import httpx

from worker.errors import RejectedError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_TOKEN_BYTES = 4 * 1024 * 1024
MAX_ERROR_BYTES = 64 * 1024
_DROPPED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def read_capped(response: httpx.Response, limit: int, what: str, *, refuse: bool) -> httpx.Response:
    """A read copy of the streamed `response` holding at most `limit` bytes (decoded), and
    `response` closed. Past the limit: RejectedError when `refuse`, else the first `limit`
    bytes. A Content-Length past the limit is refused before a byte is read."""
    try:
        declared = int(response.headers.get("Content-Length", ""))
    except ValueError:
        declared = -1
    body = bytearray()
    try:
        if refuse and declared > limit:
            raise _too_long(what, limit)
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > limit:
                if refuse:
                    raise _too_long(what, limit)
                del body[limit:]
                break
    finally:
        response.close()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED]
    copy = httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=response.request
    )
    copy.read()
    return copy


def _too_long(what: str, limit: int) -> RejectedError:
    return RejectedError(
        f"{what}: the registry's answer is longer than {limit // (1024 * 1024)} MiB, more "
        "than any registry should send; refused without reading it"
    )
