"""One repository on one registry: every distribution-API call the engine makes, in one place.

URLs, Accept headers, scopes and upload Locations live here; the copier, blob transfer, chunked
uploads and the daemon exporter only orchestrate these operations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from worker.errors import NotFoundError, PushError, RejectedError
from worker.registry.bodies import MAX_MANIFEST_BYTES
from worker.registry.client import RegistryClient, pull_scope, push_scope
from worker.registry.manifests import ACCEPT, OCI_INDEX, Descriptor, Manifest, parse_manifest
from worker.registry.phases import (
    BLOB_CHECKS,
    BLOB_TRANSFER,
    MANIFEST_WRITES,
    SOURCE_MANIFESTS,
    timed_as,
)
from worker.registry.request import RegistryRequest
from worker.registry.uploads import Upload, location_of

MAX_REFERRER_PAGES = 100  # a referrers list longer than this many pages is cut there


def _named(repository: str, reference: str) -> str:
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"{repository}{separator}{reference}"


@dataclass(frozen=True)
class Mounted:
    """The registry mounted a blob from another repository: nothing to upload."""

    source_repository: str


@dataclass(frozen=True)
class Stored:
    """A registry's answer to a manifest PUT: the digest it stored, and the subject whose
    referrers list it now keeps (None where it did not say)."""

    digest: str | None
    subject: str | None


class Repository:
    """A repository on the registry `client` talks to."""

    def __init__(self, client: RegistryClient, name: str) -> None:
        self.client = client
        self.name = name
        self.pull_scopes = (pull_scope(name),)
        self.push_scopes = (push_scope(name),)

    def __str__(self) -> str:
        return f"{self.client.registry}/{self.name}"

    def _manifest_url(self, reference: str) -> str:
        return f"/v2/{self.name}/manifests/{reference}"

    def _blob_url(self, digest: str) -> str:
        return f"/v2/{self.name}/blobs/{digest}"

    # -- manifests ----------------------------------------------------------

    @timed_as(SOURCE_MANIFESTS)
    def manifest(self, reference: str, writing: bool = False) -> Manifest:
        """The manifest under a tag or digest exactly as served (digest-checked by digest);
        `writing`: read before a write here, so asked with the push token (no token of its own)."""
        response = self.client.send(
            RegistryRequest(
                "GET",
                self._manifest_url(reference),
                self.push_scopes if writing else self.pull_scopes,
                f"reading manifest {_named(self.name, reference)}",
                headers={"Accept": ACCEPT},
                ok=(200,),
                max_body=MAX_MANIFEST_BYTES,
            )
        )
        manifest = parse_manifest(response.content, response.headers.get("Content-Type", ""))
        if reference.startswith("sha256:") and manifest.digest != reference:
            raise RejectedError(
                f"{self} served a manifest with digest {manifest.digest} for {reference}"
            )
        return manifest

    def find_manifest(self, reference: str, writing: bool = False) -> Manifest | None:
        """The manifest under a tag or digest as served, or None when there is none."""
        try:
            return self.manifest(reference, writing)
        except NotFoundError:
            return None

    def referrers(self, digest: str) -> list[Descriptor] | None:
        """The descriptors the referrers API lists for `digest` (every page, following `Link`),
        or None when the registry does not serve that API (a 404 or another refusal, or an
        answer that is not an OCI index); a refused login is still an AuthError."""
        listed: list[Descriptor] = []
        url: str | httpx.URL | None = f"/v2/{self.name}/referrers/{digest}"
        pages = 0
        while url is not None and pages < MAX_REFERRER_PAGES:
            page = self._referrers_page(url, digest)
            if page is None:
                return listed if pages else None
            entries, url = page
            listed, pages = listed + entries, pages + 1
        return listed

    def _referrers_page(
        self, url: str | httpx.URL, digest: str
    ) -> tuple[list[Descriptor], httpx.URL | None] | None:
        """One page of the referrers API and the URL of the next (None: the last)."""
        try:
            response = self.client.send(
                RegistryRequest(
                    "GET",
                    url,
                    self.pull_scopes,
                    f"listing referrers of {digest[:19]} in {self.name}",
                    headers={"Accept": OCI_INDEX},
                    ok=(200,),
                )
            )
        except (NotFoundError, RejectedError):  # some answer 400 or 405 to an unknown route
            return None
        try:
            body = json.loads(response.content)
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("manifests"), list):
            return None
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if OCI_INDEX not in (media_type, body.get("mediaType")):
            return None
        following = response.links.get("next", {}).get("url")
        after = response.url.join(following) if following else None
        return [Descriptor.from_json(entry) for entry in body["manifests"]], after

    @timed_as(BLOB_CHECKS)
    def served_digest(self, reference: str) -> str | None:
        """The digest served under a tag or digest (HEAD), or None when there is none."""
        try:
            response = self.client.send(
                RegistryRequest(
                    "HEAD",
                    self._manifest_url(reference),
                    self.push_scopes,
                    f"checking {self.name}:{reference}",
                    headers={"Accept": ACCEPT},
                    ok=(200,),
                )
            )
        except NotFoundError:
            return None
        served = response.headers.get("Docker-Content-Digest")
        return str(served) if served else None

    @timed_as(MANIFEST_WRITES)
    def put_manifest(self, reference: str, manifest: Manifest) -> Stored:
        """PUT the manifest's exact bytes under `reference` (a tag or its digest); returns the
        registry's answer: the digest it stored (Docker-Content-Digest) and the `OCI-Subject`
        it answered with (it keeps a referrers list then), where it says them."""
        response = self.client.send(
            RegistryRequest(
                "PUT",
                self._manifest_url(reference),
                self.push_scopes,
                f"pushing manifest {_named(self.name, reference)}",
                headers={"Content-Type": manifest.media_type},
                content=manifest.raw,
                ok=(201, 200),
            )
        )
        digest = response.headers.get("Docker-Content-Digest")
        subject = response.headers.get("OCI-Subject")
        return Stored(str(digest) if digest else None, str(subject) if subject else None)

    # -- blobs --------------------------------------------------------------

    @timed_as(BLOB_CHECKS)
    def has_blob(self, digest: str) -> bool:
        """True when this repository already holds the blob."""
        try:
            self.client.send(
                RegistryRequest(
                    "HEAD",
                    self._blob_url(digest),
                    self.push_scopes,
                    f"checking blob {digest[:19]} in {self.name}",
                    ok=(200,),
                )
            )
        except NotFoundError:
            return False
        return True

    def read_blob(self, digest: str, limit: int) -> bytes:
        """A small blob's whole bytes (signature payloads, bundles), digest-checked; refused
        when larger than `limit`."""
        response = self.client.send(
            RegistryRequest(
                "GET",
                self._blob_url(digest),
                self.pull_scopes,
                f"reading blob {digest[:19]} from {self.name}",
                ok=(200,),
                follow_redirects=True,
            )
        )
        data = response.content
        if len(data) > limit:
            raise RejectedError(f"blob {digest[:19]} in {self} is over {limit} bytes")
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RejectedError(f"{self} served blob {digest[:19]} with other content")
        return data

    @contextmanager
    def open_blob(self, digest: str, offset: int = 0) -> Iterator[Iterator[bytes]]:
        """The blob's bytes from `offset` on (a Range request), in the pieces the network
        reads (RegistryClient.chunks)."""
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = RegistryRequest(
            "GET",
            self._blob_url(digest),
            self.pull_scopes,
            f"fetching blob {digest[:19]} from {self.name}",
            headers=headers,
            ok=(206,) if offset else (200,),
            follow_redirects=True,
        )
        with self.client.open(request) as response:
            yield self.client.chunks(response, f"reading blob {digest[:19]} from the source")

    # -- uploads ------------------------------------------------------------

    @timed_as(BLOB_TRANSFER)
    def start_upload(self) -> Upload:
        """Open an upload session."""
        response = self.client.send(
            RegistryRequest(
                "POST",
                f"/v2/{self.name}/blobs/uploads/",
                self.push_scopes,
                f"starting upload to {self.name}",
                ok=(202,),
            )
        )
        return self._upload(response)

    @timed_as(BLOB_TRANSFER)
    def mount_blob(self, digest: str, source_repository: str) -> Upload | Mounted:
        """Ask to mount a blob from another repository; a registry that will not, opens an
        upload instead."""
        response = self.client.send(
            RegistryRequest(
                "POST",
                f"/v2/{self.name}/blobs/uploads/",
                (*self.push_scopes, pull_scope(source_repository)),
                f"mounting blob {digest[:19]} from {source_repository}",
                params={"mount": digest, "from": source_repository},
                ok=(201, 202),
            )
        )
        if response.status_code == 201:
            return Mounted(source_repository)
        return self._upload(response)

    def mount_or_start(self, digest: str, holders: Sequence[str] = ()) -> Upload | Mounted:
        """Mount the blob from the first of `holders` that allows it, else open an upload."""
        for holder in holders:
            if holder == self.name:
                continue
            try:
                return self.mount_blob(digest, holder)
            except PushError:
                continue  # a repository we may not read: fall back to the next, then upload
        return self.start_upload()

    def _upload(self, response: httpx.Response) -> Upload:
        try:
            min_chunk = int(response.headers.get("OCI-Chunk-Min-Length", "0"))
        except ValueError:
            min_chunk = 0
        return Upload(self.client, self.push_scopes, location_of(self.client, response), min_chunk)
