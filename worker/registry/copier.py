"""The copy engine: one pooled client per registry host, and the one copy path
(`transfer.py`) from a source to one or more destinations over the distribution API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from worker.reference import Reference
from worker.registry.blobs import StopCheck
from worker.registry.client import RegistryClient
from worker.registry.credentials import Credentials, CredentialSource, target_credentials
from worker.registry.destination import CopyOptions, CopyResult, Destination
from worker.registry.logins import Logins
from worker.registry.manifests import Manifest
from worker.registry.progress import Progress
from worker.registry.repository import Repository
from worker.registry.retry import RetryPolicy, current_stop
from worker.registry.scheduler import BlobTransfer, StreamSlots
from worker.registry.tags import confirm_served, push_tags
from worker.registry.traffic_hooks import RegistryObserver
from worker.registry.transfer import ImageCopy
from worker.settings import Settings

CredentialLookup = Callable[[str], "Credentials | CredentialSource | None"]


def _never_stop() -> None:
    return None


class CopyEngine:
    """Copies images between registries; holds one pooled client per registry host."""

    def __init__(
        self,
        settings: Settings,
        *,
        target: Credentials | None = None,
        source_credentials: CredentialLookup | None = None,
        observer: RegistryObserver | None = None,
        insecure: Callable[[str], bool] | None = None,
        realm_hosts: Callable[[str], frozenset[str]] | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self._target_credentials = target
        self._source_credentials = source_credentials or (lambda registry: None)
        self._insecure = insecure or settings.is_insecure
        self._realm_hosts = realm_hosts or (lambda registry: settings.token_realm_hosts)
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()
        self.retry = RetryPolicy(
            attempts=settings.retry_attempts, max_total_wait=settings.retry_max_wait
        )
        # Every job of this process streams blobs through these slots (see scheduler.py).
        self.streams = StreamSlots(settings.blob_streams)
        self.transfer = BlobTransfer(
            self.retry,
            self.streams,
            settings.chunk_threshold,
            settings.chunk_size,
            settings.copy_concurrency,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        logins: Logins,
        observer: RegistryObserver | None = None,
    ) -> CopyEngine:
        """An engine with the vendor token, the targets' logins and DOCKER_CONFIG's;
        `observer` hears of every registry request and retry (the job side's metrics)."""
        return cls(
            settings,
            target=target_credentials(settings.registry_username, settings.registry_token),
            source_credentials=logins.credentials,
            insecure=logins.insecure,
            realm_hosts=logins.realm_hosts,
            observer=observer,
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
                own = self._target_credentials if registry == self.settings.registry else None
                creds = own or self._source_credentials(registry)
                client = RegistryClient(
                    registry,
                    insecure=self._insecure(registry),
                    credentials=creds,
                    timeout=self.settings.stall_timeout,
                    retry=self.retry,
                    max_connections=self.settings.registry_concurrency,
                    observer=self.observer,
                    token_realm_hosts=self._realm_hosts(registry),
                )
                self._clients[registry] = client
            return client

    def repository(self, registry: str, name: str) -> Repository:
        """Repository `name` on `registry`, through the shared client."""
        return Repository(self.client(registry), name)

    def copy(
        self,
        source: Reference,
        references: Sequence[Reference],
        *,
        options: CopyOptions | None = None,
        progress: Progress | None = None,
        should_stop: StopCheck = _never_stop,
    ) -> CopyResult:
        """Copy `source` to one destination (one repository, several tags); its error is
        raised."""
        if not references:
            raise ValueError("copy needs at least one destination")
        destination = Destination(str(references[0]), references)
        self.copy_to(
            source, [destination], options=options, progress=progress, should_stop=should_stop
        )
        if destination.error is not None:
            raise destination.error
        assert destination.result is not None  # copy_to leaves none pending
        return destination.result

    def copy_to(
        self,
        source: Reference,
        destinations: Sequence[Destination],
        *,
        options: CopyOptions | None = None,
        progress: Progress | None = None,
        should_stop: StopCheck = _never_stop,
    ) -> None:
        """Copy `source` to every destination; each ends with its `result` or its own `error`.
        Errors of the source itself and the stop are raised: no destination can succeed then
        (the rule: worker/registry/transfer.py)."""
        if not destinations:
            raise ValueError("copy needs at least one destination")
        token = current_stop.set(should_stop)
        try:
            ImageCopy(
                self.repository,
                self.transfer,
                source,
                destinations,
                options or CopyOptions(),
                progress or Progress(),
                should_stop,
            ).run()
        finally:
            current_stop.reset(token)

    def push_tags(
        self,
        manifest: Manifest,
        destinations: Sequence[Reference],
        should_stop: StopCheck = _never_stop,
        served: Mapping[str, str | None] | None = None,
    ) -> dict[str, str | None]:
        """PUT the manifest under every destination tag that does not already serve it
        (`served`: what each tag served when the copy began, so it need not be asked again);
        what the registry answered to each PUT."""
        return push_tags(self.repository, manifest, destinations, should_stop, served)

    def confirm_served(
        self,
        result: CopyResult,
        destinations: Sequence[Reference],
        answered: Mapping[str, str | None] | None = None,
    ) -> CopyResult:
        """Check every destination serves result.digest (a PUT `answered` with it counts)
        and record what it serves."""
        return confirm_served(self.repository, result, destinations, answered)
