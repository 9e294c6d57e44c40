"""Blob transfer: skip what the target has, mount what it holds elsewhere, stream the rest."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx

from worker.errors import NetworkError, NotFoundError, PushError, RejectedError
from worker.registry.client import RegistryClient, pull_scope, push_scope
from worker.registry.manifests import Descriptor
from worker.registry.status import map_transport_error

StopCheck = Callable[[], None]
ByteCounter = Callable[[int], None]
# Large writes matter: the registry ingests 1 MiB writes about twice as fast as 64 KiB ones.
CHUNK_SIZE = 1 << 20


@dataclass(frozen=True)
class BlobRoute:
    """Where one blob comes from and goes to."""

    source: RegistryClient
    source_repository: str
    target: RegistryClient
    target_repository: str

    @property
    def same_host(self) -> bool:
        """True when source and target are one registry (a copy then needs one slot, not two)."""
        return self.source is self.target


def blob_exists(
    client: RegistryClient, repository: str, digest: str, scopes: tuple[str, ...]
) -> bool:
    """True when `repository` on `client`'s registry already holds the blob."""
    try:
        client.request(
            "HEAD",
            client.blob_url(repository, digest),
            scopes=scopes,
            what=f"checking blob {digest[:19]} in {repository}",
            ok=(200,),
        )
    except NotFoundError:
        return False
    return True


@dataclass(frozen=True)
class UploadStart:
    """The registry's answer to opening an upload: a location, or the repo it mounted from."""

    location: str | None
    mounted_from: str | None = None
    min_chunk: int = 0


def start_upload(route: BlobRoute, digest: str, mount_from: Sequence[str] = ()) -> UploadStart:
    """Open an upload, trying to mount the blob from `mount_from` repositories first."""
    target, repo = route.target, route.target_repository
    url = f"/v2/{repo}/blobs/uploads/"
    for other in mount_from:
        if other == repo:
            continue
        scopes = (push_scope(repo), pull_scope(other))
        try:
            response = target.request(
                "POST",
                url,
                params={"mount": digest, "from": other},
                scopes=scopes,
                what=f"mounting blob {digest[:19]} from {other}",
                ok=(201, 202),
            )
        except PushError:
            continue  # a repository we may not read: fall back to the next, then to upload
        if response.status_code == 201:
            return UploadStart(None, mounted_from=other)
        return _opened(target, response)
    response = target.request(
        "POST", url, scopes=(push_scope(repo),), what=f"starting upload to {repo}", ok=(202,)
    )
    return _opened(target, response)


def _opened(client: RegistryClient, response: httpx.Response) -> UploadStart:
    try:
        min_chunk = int(response.headers.get("OCI-Chunk-Min-Length", "0"))
    except ValueError:
        min_chunk = 0
    return UploadStart(upload_location(client, response), min_chunk=min_chunk)


def upload_location(client: RegistryClient, response: httpx.Response) -> str:
    """The absolute URL of the upload named by a response's Location header."""
    location = response.headers.get("Location")
    if not location:
        raise RejectedError(f"{client.registry} opened an upload without a Location header")
    return str(httpx.URL(client.base_url).join(location))


def verified_chunks(
    response: httpx.Response, blob: Descriptor, on_bytes: ByteCounter, should_stop: StopCheck
) -> Iterator[bytes]:
    """Yield the blob's bytes, holding back the last chunk until size and sha256 are checked."""
    hasher = hashlib.sha256()
    received = 0
    pending = b""
    try:
        for chunk in response.iter_raw(CHUNK_SIZE):
            should_stop()
            hasher.update(chunk)
            received += len(chunk)
            if pending:
                yield pending
                on_bytes(len(pending))
            pending = chunk
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, f"reading blob {blob.digest[:19]} from the source") from None
    actual = "sha256:" + hasher.hexdigest()
    if received != blob.size or actual != blob.digest:
        raise NetworkError(
            f"the source sent {received} bytes with digest {actual[:19]} for blob "
            f"{blob.digest[:19]} of {blob.size} bytes: the stream was corrupted or cut"
        )
    if pending:
        yield pending
        on_bytes(len(pending))


def cancel_upload(route: BlobRoute, location: str) -> None:
    """Best-effort DELETE of an abandoned upload, so the registry does not keep its bytes."""
    # If this fails too, the registry purges stale uploads on its own schedule.
    with contextlib.suppress(PushError):
        route.target.request(
            "DELETE",
            location,
            scopes=(push_scope(route.target_repository),),
            what="cancelling an upload",
            ok=(204, 200, 202, 404),
        )


def open_source(
    route: BlobRoute, blob: Descriptor, offset: int = 0
) -> AbstractContextManager[httpx.Response]:
    """Open the source blob as a streamed response, from `offset` on (a Range request)."""
    source = route.source
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return source.stream(
        "GET",
        source.blob_url(route.source_repository, blob.digest),
        scopes=(pull_scope(route.source_repository),),
        what=f"fetching blob {blob.digest[:19]} from {route.source_repository}",
        headers=headers,
        ok=(206,) if offset else (200,),
        follow_redirects=True,
    )


def stream_blob(
    route: BlobRoute,
    blob: Descriptor,
    location: str,
    on_bytes: ByteCounter,
    should_stop: StopCheck,
) -> None:
    """Stream one blob from the source GET into the target upload at `location`."""
    target = route.target
    upload_url = httpx.URL(location).copy_merge_params({"digest": blob.digest})
    with open_source(route, blob) as response:
        body = verified_chunks(response, blob, on_bytes, should_stop)
        with target.stream(
            "PUT",
            upload_url,
            scopes=(push_scope(route.target_repository),),
            what=f"uploading blob {blob.digest[:19]} to {route.target_repository}",
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)},
            content=body,
            ok=(201, 204),
            take_slot=not route.same_host,
        ):
            pass
