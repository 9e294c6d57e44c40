"""The copy engine: copy an image between registries over the distribution API, no daemon."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from worker.errors import PushCancelled, PushError, RejectedError
from worker.policies import AttestationPolicy
from worker.reference import Reference
from worker.registry.blobs import BlobRoute, stream_blob
from worker.registry.chunked import ChunkedUpload
from worker.registry.client import RegistryClient
from worker.registry.credentials import Credentials, docker_config_credentials, target_credentials
from worker.registry.manifests import Descriptor, Manifest
from worker.registry.progress import Progress
from worker.registry.repository import Mounted, Repository
from worker.registry.retry import RetryPolicy, current_stop
from worker.registry.selection import IndexSelection, explain_refusal, select_children
from worker.registry.uploads import Upload
from worker.settings import Settings

StopCheck = Callable[[], None]
CredentialLookup = Callable[[str], "Credentials | None"]
# Given blob digests, the repository of the same app that already holds each (if known).
MountLookup = Callable[[list[str]], Mapping[str, str]]


def _never_stop() -> None:
    return None


@dataclass(frozen=True)
class CopyOptions:
    """How to copy: attestation policy, platform selection, repositories to mount from."""

    attestations: AttestationPolicy = AttestationPolicy.STRIP
    platforms: tuple[str, ...] = ()
    mount_lookup: MountLookup | None = None


@dataclass
class CopyResult:
    """What a copy did: digests before and after, what it served, removed and mounted."""

    source_digest: str
    digest: str
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    blobs_mounted: int = 0
    blobs: list[str] = field(default_factory=list)


class CopyEngine:
    """Copies images between registries; holds one pooled client per registry host."""

    def __init__(
        self,
        settings: Settings,
        *,
        target: Credentials | None = None,
        source_credentials: CredentialLookup | None = None,
    ) -> None:
        self.settings = settings
        self._target_credentials = target
        self._source_credentials = source_credentials or (lambda registry: None)
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()
        self.retry = RetryPolicy(
            attempts=settings.retry_attempts, max_total_wait=settings.retry_max_wait
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> CopyEngine:
        """An engine with the vendor token from settings and sources' from DOCKER_CONFIG."""
        return cls(
            settings,
            target=target_credentials(settings.registry_username, settings.registry_token),
            source_credentials=lambda host: docker_config_credentials(settings.docker_config, host),
        )

    @property
    def target_credentials(self) -> Credentials | None:
        """The vendor registry's credentials (for a daemon that pushes on our behalf)."""
        return self._target_credentials

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def client(self, registry: str) -> RegistryClient:
        """The shared client for `registry`, created on first use."""
        with self._lock:
            client = self._clients.get(registry)
            if client is None:
                creds = (
                    self._target_credentials
                    if registry == self.settings.registry
                    else self._source_credentials(registry)
                )
                client = RegistryClient(
                    registry,
                    insecure=self.settings.is_insecure(registry),
                    credentials=creds,
                    timeout=self.settings.stall_timeout,
                    retry=self.retry,
                    max_connections=self.settings.registry_concurrency,
                )
                self._clients[registry] = client
            return client

    def repository(self, registry: str, name: str) -> Repository:
        """Repository `name` on `registry`, through the shared client."""
        return Repository(self.client(registry), name)

    def copy(
        self,
        source: Reference,
        destinations: Sequence[Reference],
        *,
        options: CopyOptions | None = None,
        progress: Progress | None = None,
        should_stop: StopCheck = _never_stop,
    ) -> CopyResult:
        """Copy `source` to every destination (one repository, several tags)."""
        token = current_stop.set(should_stop)
        try:
            return self._copy(
                source, destinations, options or CopyOptions(), progress or Progress(), should_stop
            )
        finally:
            current_stop.reset(token)

    def _copy(
        self,
        source: Reference,
        destinations: Sequence[Reference],
        options: CopyOptions,
        progress: Progress,
        should_stop: StopCheck,
    ) -> CopyResult:
        if not destinations:
            raise ValueError("copy needs at least one destination")
        src = self.repository(source.registry, source.repository)
        dst = self.repository(destinations[0].registry, destinations[0].repository)
        top = src.manifest(source.identifier)
        should_stop()
        selection = self._select(src, top, options, should_stop)
        blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
        progress.start(blobs)
        route = BlobRoute(src, dst)
        # Repositories that hold a blob already; the target itself is skipped when mounting.
        holders = options.mount_lookup([b.digest for b in blobs]) if options.mount_lookup else {}
        mounted = self._copy_blobs(route, blobs, holders, progress, should_stop)
        pushed = selection.manifest
        try:
            for child in selection.children:
                should_stop()
                if dst.served_digest(child.digest) != child.digest:
                    dst.put_manifest(child.digest, child)
            self.push_tags(pushed, destinations, should_stop)
        except RejectedError as refused:
            raise explain_refusal(refused, selection) from None
        result = CopyResult(
            top.digest,
            pushed.digest,
            removed=selection.removed,
            blobs_mounted=mounted,
            blobs=[b.digest for b in blobs],
        )
        return self.confirm_served(result, destinations)

    def push_tags(
        self,
        manifest: Manifest,
        destinations: Sequence[Reference],
        should_stop: StopCheck = _never_stop,
    ) -> None:
        """PUT the manifest under every destination tag that does not already serve it."""
        for dest in destinations:
            should_stop()
            repository = self.repository(dest.registry, dest.repository)
            if repository.served_digest(dest.identifier) != manifest.digest:
                repository.put_manifest(dest.identifier, manifest)

    def confirm_served(self, result: CopyResult, destinations: Sequence[Reference]) -> CopyResult:
        """HEAD every destination, check it serves result.digest, and record what it serves."""
        for dest in destinations:
            served = self.repository(dest.registry, dest.repository).served_digest(dest.identifier)
            if served != result.digest:
                raise RejectedError(
                    f"{dest} serves {served or 'nothing'} after the push, not {result.digest}"
                )
            result.served[str(dest)] = served
        return result

    def _select(
        self,
        src: Repository,
        top: Manifest,
        options: CopyOptions,
        should_stop: StopCheck,
    ) -> IndexSelection:
        if not top.is_index:
            return select_children(top, [], options.attestations, options.platforms)
        children: list[Manifest] = []
        for child in top.children:
            should_stop()
            children.append(src.manifest(child.digest))
        return select_children(top, children, options.attestations, options.platforms)

    def _copy_blobs(
        self,
        route: BlobRoute,
        blobs: list[Descriptor],
        holders: Mapping[str, str],
        progress: Progress,
        should_stop: StopCheck,
    ) -> int:
        """Copy blobs largest first, several at once; returns how many were mounted."""
        ordered = sorted(blobs, key=lambda b: b.size, reverse=True)
        workers = max(1, min(self.settings.copy_concurrency, len(ordered)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blob") as pool:
            futures = [
                pool.submit(
                    contextvars.copy_context().run,
                    self._copy_blob,
                    route,
                    blob,
                    holders.get(blob.digest),
                    progress,
                    should_stop,
                )
                for blob in ordered
            ]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            if pending:
                progress.abort()
                for future in pending:
                    future.cancel()
                wait(pending)
            errors = [e for f in futures if not f.cancelled() and (e := f.exception())]
            if errors:
                # The first real failure, not the "another blob failed" stops it caused.
                errors.sort(key=lambda e: isinstance(e, PushCancelled))
                raise errors[0]
            return sum(1 for f in futures if f.result() == "mounted")

    def _copy_blob(
        self,
        route: BlobRoute,
        blob: Descriptor,
        holder: str | None,
        progress: Progress,
        should_stop: StopCheck,
    ) -> str:
        def stop() -> None:
            progress.check_aborted()
            should_stop()

        state = self.retry.begin(f"copying blob {blob.digest[:19]}")
        while state.next_attempt():
            stop()
            counted = 0
            upload: Upload | None = None

            def count(n: int) -> None:
                nonlocal counted
                counted += n
                progress.add_bytes(n)

            try:
                if route.target.has_blob(blob.digest):
                    progress.blob_skipped(blob, counted)
                    return "skipped"
                opened = route.target.mount_or_start(blob.digest, [holder] if holder else [])
                if isinstance(opened, Mounted):
                    progress.blob_skipped(blob, counted, mounted=True)
                    return "mounted"
                upload = opened
                if blob.size > self.settings.chunk_threshold:
                    chunk = max(self.settings.chunk_size, upload.min_chunk)
                    ChunkedUpload(route, blob, upload, chunk, count, stop).run(self.retry)
                else:
                    stream_blob(route, blob, upload, count, stop)
                progress.blob_done(blob, counted)
                return "copied"
            except PushError as error:
                progress.add_bytes(-counted)
                if upload is not None:
                    upload.cancel()
                state.failed(error)
        raise state.give_up()
