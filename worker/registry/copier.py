"""The copy engine: copy an image between registries over the distribution API, no daemon."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from worker.errors import RejectedError
from worker.policies import AttestationPolicy, ReferrersPolicy
from worker.reference import Reference
from worker.registry.attached import AttachedPlan, carry_attached, plan_attached, refuse_unsigned
from worker.registry.blobs import BlobRoute
from worker.registry.carry import TagLocker
from worker.registry.client import RegistryClient
from worker.registry.cosign import VerifyPolicy
from worker.registry.credentials import Credentials, CredentialSource, target_credentials
from worker.registry.logins import Logins
from worker.registry.manifests import Descriptor, Manifest
from worker.registry.observer import RegistryObserver
from worker.registry.progress import Progress
from worker.registry.repository import Repository
from worker.registry.retry import RetryPolicy, current_stop
from worker.registry.scheduler import StreamSlots, copy_blob, run_all
from worker.registry.selection import IndexSelection, explain_refusal, select_children
from worker.registry.tags import put_tag
from worker.settings import Settings

StopCheck = Callable[[], None]
CredentialLookup = Callable[[str], "Credentials | CredentialSource | None"]
# Given blob digests, the repository of the same app that already holds each (if known).
MountLookup = Callable[[list[str]], Mapping[str, str]]


def _never_stop() -> None:
    return None


@dataclass(frozen=True)
class CopyOptions:
    """How to copy: attestation policy, platforms, repositories to mount from, attached
    signatures and SBOMs (`referrers`), keys that must have signed, fallback-index tag locks."""

    attestations: AttestationPolicy = AttestationPolicy.STRIP
    platforms: tuple[str, ...] = ()
    mount_lookup: MountLookup | None = None
    referrers: ReferrersPolicy = ReferrersPolicy.COPY
    verify: VerifyPolicy | None = None
    tag_lock: TagLocker | None = None


@dataclass
class CopyResult:
    """What a copy did: digests before and after, what it served, removed and mounted."""

    source_digest: str
    digest: str
    served: dict[str, str] = field(default_factory=dict)
    removed: list[dict[str, str]] = field(default_factory=list)
    blobs_mounted: int = 0
    blobs: list[str] = field(default_factory=list)
    carried: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    left_behind: list[dict[str, str]] = field(default_factory=list)
    verified: list[dict[str, str]] = field(default_factory=list)

    def attached(self, plan: AttachedPlan) -> None:
        """Record what was verified and what could not follow the image."""
        self.verified = [v.as_record() for v in plan.verified]
        self.left_behind = [a.as_record() for a in plan.left_behind]


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
    ) -> None:
        self.settings = settings
        self.observer = observer
        self._target_credentials = target
        self._source_credentials = source_credentials or (lambda registry: None)
        self._insecure = insecure or settings.is_insecure
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()
        self.retry = RetryPolicy(
            attempts=settings.retry_attempts, max_total_wait=settings.retry_max_wait
        )
        # Every job of this process streams blobs through these slots (see scheduler.py).
        self.streams = StreamSlots(settings.blob_streams)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        logins: Logins | None = None,
        observer: RegistryObserver | None = None,
    ) -> CopyEngine:
        """An engine with the vendor token, the targets' logins and DOCKER_CONFIG's;
        `observer` hears of every registry request and retry (the job side's metrics)."""
        logins = logins or Logins(settings)
        return cls(
            settings,
            target=target_credentials(settings.registry_username, settings.registry_token),
            source_credentials=logins.credentials,
            insecure=logins.insecure,
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
        # What the destinations serve now, asked while the source manifest is read.
        with ThreadPoolExecutor(1, thread_name_prefix="head") as side:
            served_now = side.submit(
                contextvars.copy_context().run, partial(self._served, destinations)
            )
            top = src.manifest(source.identifier)
            should_stop()
            selection = self._select(src, top, options, should_stop)
            served = served_now.result()
        policy = options.referrers
        plan = plan_attached(src, top, selection, options.verify, should_stop)
        unsigned = refuse_unsigned(plan, policy, top.digest, str(destinations[0]))
        if unsigned is not None:
            raise unsigned
        carry = partial(carry_attached, plan, src, dst, policy, options.tag_lock, should_stop)
        blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
        pushed = selection.manifest
        result = CopyResult(
            top.digest, pushed.digest, removed=selection.removed, blobs=[b.digest for b in blobs]
        )
        result.attached(plan)
        progress.start(blobs)
        if all(digest == pushed.digest for digest in served.values()):
            # A re-push: every tag serves the image already, and a registry serves a manifest
            # only once it holds all its blobs. Nothing to copy or check.
            for blob in blobs:
                progress.blob_skipped(blob, 0)
            result.served = {dest: pushed.digest for dest in served}
            result.carried, result.skipped = carry()
            return result
        route = BlobRoute(src, dst)
        # Repositories that hold a blob already; the target itself is skipped when mounting.
        holders = options.mount_lookup([b.digest for b in blobs]) if options.mount_lookup else {}
        result.blobs_mounted = self._copy_blobs(route, blobs, holders, progress, should_stop)
        try:
            for child in selection.children:
                should_stop()
                if dst.served_digest(child.digest) != child.digest:
                    dst.put_manifest(child.digest, child)
            self.push_tags(pushed, destinations, should_stop, served)
        except RejectedError as refused:
            raise explain_refusal(refused, selection) from None
        self.confirm_served(result, destinations)
        result.carried, result.skipped = carry()
        return result

    def push_tags(
        self,
        manifest: Manifest,
        destinations: Sequence[Reference],
        should_stop: StopCheck = _never_stop,
        served: Mapping[str, str | None] | None = None,
    ) -> None:
        """PUT the manifest under every destination tag that does not already serve it
        (`served`: what each tag served when the copy began, so it need not be asked again)."""
        for dest in destinations:
            should_stop()
            repository = self.repository(dest.registry, dest.repository)
            if served is not None and str(dest) in served:
                now = served[str(dest)]
            else:
                now = repository.served_digest(dest.identifier)
            if now != manifest.digest:
                put_tag(repository, dest.identifier, manifest, now)

    def _served(self, destinations: Sequence[Reference]) -> dict[str, str | None]:
        """What every destination tag serves now (None where nothing)."""
        return {
            str(dest): self.repository(dest.registry, dest.repository).served_digest(
                dest.identifier
            )
            for dest in destinations
        }

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
        tasks = [
            partial(copy_blob, self, route, b, holders.get(b.digest), progress, should_stop)
            for b in ordered
        ]
        outcomes = run_all(tasks, self.settings.copy_concurrency, progress.abort)
        return outcomes.count("mounted")
