"""One image to several destinations in one go: each blob is read from the source once and teed
into the uploads of every destination that lacks it; one destination failing leaves the others
going. Progress is one set of counters over all destinations."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from worker.errors import PushCancelled, PushError, RejectedError
from worker.policies import ReferrersPolicy
from worker.reference import Reference
from worker.registry.attached import AttachedPlan, carry_attached, plan_attached, refuse_unsigned
from worker.registry.blobs import BlobRoute, StopCheck
from worker.registry.copier import CopyEngine, CopyOptions, CopyResult, MountLookup
from worker.registry.manifests import Descriptor, Manifest
from worker.registry.progress import Progress
from worker.registry.repository import Mounted, Repository
from worker.registry.retry import current_stop
from worker.registry.scheduler import copy_blob
from worker.registry.selection import IndexSelection, explain_refusal, select_children
from worker.registry.tee import TeeBranch, tee_blob
from worker.registry.uploads import Upload


@dataclass
class Leg:
    """One destination: a repository on one registry and its tags; ends with a result or an
    error of its own. `mount_lookup` finds repositories it may mount blobs from."""

    name: str
    references: Sequence[Reference]
    mount_lookup: MountLookup | None = None
    referrers: ReferrersPolicy | None = None  # None: the copy options'
    holders: Mapping[str, str] = field(default_factory=dict)
    result: CopyResult | None = None
    error: PushError | None = None

    @property
    def pending(self) -> bool:
        """True while the leg has neither succeeded nor failed."""
        return self.result is None and self.error is None


class Fanout:
    """Copies one source to every leg with one engine; see `copy_to_legs`."""

    def __init__(
        self,
        engine: CopyEngine,
        source: Reference,
        legs: Sequence[Leg],
        options: CopyOptions,
        progress: Progress,
        should_stop: StopCheck,
    ) -> None:
        self.engine, self.legs, self.options = engine, legs, options
        self.progress, self.should_stop = progress, should_stop
        self.src = engine.repository(source.registry, source.repository)
        self.source = source
        self.plan = AttachedPlan()
        self._lock = threading.Lock()

    def repository(self, leg: Leg) -> Repository:
        """The leg's repository (every reference of a leg names the same one)."""
        first = leg.references[0]
        return self.engine.repository(first.registry, first.repository)

    def fail(self, leg: Leg, error: PushError) -> None:
        """Record the leg's error (the first one wins); PushCancelled ends the whole copy."""
        if isinstance(error, PushCancelled):
            raise error
        with self._lock:
            if leg.error is None:
                leg.error = error

    def run(self) -> None:
        """Copy: source manifests, then blobs to every leg, then each leg's manifests."""
        top = self.src.manifest(self.source.identifier)
        self.should_stop()
        selection = self._select(top)
        self.plan = plan_attached(
            self.src,
            top,
            selection,
            self.options.verify,
            self.should_stop,
        )
        for leg in self.legs:
            unsigned = refuse_unsigned(
                self.plan, self.policy(leg), top.digest, f"target {leg.name}"
            )
            if unsigned is not None:
                self.fail(leg, unsigned)
        pushed = selection.manifest
        blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
        self.progress.start(blobs * len(self.legs))
        result = CopyResult(
            top.digest, pushed.digest, removed=selection.removed, blobs=[b.digest for b in blobs]
        )
        result.attached(self.plan)
        for leg in self.legs:
            if leg.pending:
                self._skip_if_served(leg, pushed, blobs, result)
            if leg.pending and leg.mount_lookup is not None:
                leg.holders = leg.mount_lookup([b.digest for b in blobs])
        ordered = sorted(blobs, key=lambda b: b.size, reverse=True)
        workers = max(1, min(self.engine.settings.copy_concurrency, len(ordered)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fanout") as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, self._blob, blob) for blob in ordered
            ]
            errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:
            errors.sort(key=lambda e: not isinstance(e, PushCancelled))
            raise errors[0]
        for leg in self.legs:
            if leg.pending:
                self._finish_leg(leg, selection, result)

    def policy(self, leg: Leg) -> ReferrersPolicy:
        """What the leg does with attached signatures and SBOMs."""
        return leg.referrers or self.options.referrers

    def _carry(self, leg: Leg, result: CopyResult) -> None:
        """Write the attachments to the leg, which serves the image now."""
        result.carried, result.skipped = carry_attached(
            self.plan,
            self.src,
            self.repository(leg),
            self.policy(leg),
            self.options.tag_lock,
            self.should_stop,
        )

    def _select(self, top: Manifest) -> IndexSelection:
        options = self.options
        children: list[Manifest] = []
        for child in top.children if top.is_index else []:
            self.should_stop()
            children.append(self.src.manifest(child.digest))
        return select_children(top, children, options.attestations, options.platforms)

    def _skip_if_served(
        self, leg: Leg, pushed: Manifest, blobs: list[Descriptor], result: CopyResult
    ) -> None:
        """A leg whose every tag serves the digest already (a retry, a redelivery) is done."""
        repository = self.repository(leg)
        try:
            served = {str(r): repository.served_digest(r.identifier) for r in leg.references}
        except PushError as error:
            self.fail(leg, error)
            return
        if set(served.values()) != {pushed.digest}:
            return
        for blob in blobs:
            self.progress.blob_skipped(blob, 0)
        done = replace(result, served={k: pushed.digest for k in served}, blobs_mounted=0)
        try:
            self._carry(leg, done)
        except PushError as error:
            self.fail(leg, error)
            return
        leg.result = done

    def _blob(self, blob: Descriptor) -> None:
        """Copy one blob to every pending leg: tee one source read into their uploads, then
        copy on its own (with the engine's retries) to each leg the tee could not serve."""
        self.should_stop()
        legs = [leg for leg in self.legs if leg.pending]
        alone: list[Leg] = []
        branches: list[tuple[Leg, TeeBranch]] = []
        teeable = len(legs) > 1 and blob.size <= self.engine.settings.chunk_threshold
        for leg in legs:
            if not teeable:
                alone.append(leg)
                continue
            try:
                opened = self._open(leg, blob)
            except PushCancelled:
                raise
            except PushError:
                alone.append(leg)  # worth the engine's retries below
                continue
            if opened is not None:
                where = str(self.repository(leg))
                branches.append((leg, TeeBranch(opened, where, self.progress.add_bytes)))
        if branches:  # one of the process's stream slots, as a single copy takes
            with self.engine.streams.hold(self.progress, self.should_stop):
                tee_blob(self.src, blob, [branch for _, branch in branches], self.should_stop)
        for leg, branch in branches:
            if branch.error is None:
                self.progress.blob_done(blob, branch.counted)
            else:
                self.progress.add_bytes(-branch.counted)
                branch.upload.cancel()
                alone.append(leg)
        for leg in alone:
            self._copy_alone(leg, blob)

    def _open(self, leg: Leg, blob: Descriptor) -> Upload | None:
        """None when the leg has the blob or mounted it (counted); else an open upload."""
        repository = self.repository(leg)
        if repository.has_blob(blob.digest):
            self.progress.blob_skipped(blob, 0)
            return None
        holder = leg.holders.get(blob.digest)
        opened = repository.mount_or_start(blob.digest, [holder] if holder else [])
        if isinstance(opened, Mounted):
            self.progress.blob_skipped(blob, 0, mounted=True)
            return None
        return opened

    def _copy_alone(self, leg: Leg, blob: Descriptor) -> None:
        route = BlobRoute(self.src, self.repository(leg))
        try:  # the engine's own copy of one blob: retries, mounts, chunked uploads
            copy_blob(
                self.engine,
                route,
                blob,
                leg.holders.get(blob.digest),
                self.progress,
                self.should_stop,
            )
        except PushError as error:
            self.fail(leg, error)

    def _finish_leg(self, leg: Leg, selection: IndexSelection, result: CopyResult) -> None:
        """Put the child manifests and tags on one leg and confirm what it serves."""
        repository = self.repository(leg)
        try:
            try:
                for child in selection.children:
                    self.should_stop()
                    if repository.served_digest(child.digest) != child.digest:
                        repository.put_manifest(child.digest, child)
                self.engine.push_tags(selection.manifest, leg.references, self.should_stop)
            except RejectedError as refused:
                raise explain_refusal(refused, selection) from None
            mine = replace(result, served={})
            self._carry(leg, self.engine.confirm_served(mine, leg.references))
            leg.result = mine
        except PushError as error:
            self.fail(leg, error)


def copy_to_legs(
    engine: CopyEngine,
    source: Reference,
    legs: Sequence[Leg],
    *,
    options: CopyOptions | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck = lambda: None,
) -> None:
    """Copy `source` to every leg; each leg ends with its `result` or its own `error`. Errors
    of the source itself (and cancellation) are raised: no leg can succeed then."""
    token = current_stop.set(should_stop)
    try:
        Fanout(
            engine, source, legs, options or CopyOptions(), progress or Progress(), should_stop
        ).run()
    finally:
        current_stop.reset(token)
