"""The one copy path: one image from its source to one or more destinations.

The source's manifests are read and selected once, while every destination is asked what its
tags serve; a destination whose every tag serves the image already is done (a re-push). Each
blob is read from the source once: when several destinations lack it (and it is not big enough
to go up in chunks), one read is teed into their uploads; otherwise, and for any destination the
tee could not serve, it is copied on its own (retries, mounts, chunked uploads). Then each
destination gets the child manifests and its tags, what it serves is confirmed, and what is
attached to the image follows (worker/registry/attached.py: found, and its blobs copied, while
the image's blobs go, unless signatures must be checked before the first write).

Which error wins when several things fail (tests/worker/registry/test_copy_errors.py):
1. What no destination can survive is raised at once and ends the copy: reading the source's
   manifests, a teed read of a source blob, and the job's own stop (cancel, deadline, shutdown).
2. Anything else fails one destination, which keeps the first error it met in time; the others
   go on. Once no destination is left pending, the blobs still running are stopped, and those
   stops are consequences, never reported.
3. With one destination, its error is the copy's error (`CopyEngine.copy`, a job's only
   destination); a job with several reports them per destination, its own error taking the
   type of the first failed destination in the job's order (worker/jobs/destinations.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial

from worker.errors import PushCancelled, PushError, RejectedError
from worker.policies import ReferrersPolicy
from worker.reference import Reference
from worker.registry.attached import AttachedStep
from worker.registry.blobs import BlobRoute, StopCheck
from worker.registry.destination import CopyOptions, CopyResult, Destination
from worker.registry.manifests import Descriptor, Manifest
from worker.registry.progress import Progress
from worker.registry.repository import Mounted, Repository
from worker.registry.retry import SideWork
from worker.registry.scheduler import BlobTransfer, copy_blob, run_all
from worker.registry.selection import IndexSelection, explain_refusal, read_selection
from worker.registry.tags import RepositoryOf, confirm_served, push_tags
from worker.registry.tee import TeeBranch, tee_blob
from worker.registry.uploads import Upload


class ImageCopy:
    """One run of the copy path; every destination ends with its result or its error."""

    def __init__(
        self,
        repository_of: RepositoryOf,
        transfer: BlobTransfer,
        source: Reference,
        destinations: Sequence[Destination],
        options: CopyOptions,
        progress: Progress,
        should_stop: StopCheck,
    ) -> None:
        self.repository_of, self.transfer = repository_of, transfer
        self.source, self.destinations, self.options = source, destinations, options
        self.progress, self.should_stop = progress, should_stop
        self.src = repository_of(source.registry, source.repository)
        self._lock = threading.Lock()
        self._given_up = False  # no destination left pending: running blobs were stopped
        self.attached = AttachedStep(
            self.src, options, should_stop
        )  # what is attached to the image

    def repository(self, destination: Destination) -> Repository:
        """The destination's repository."""
        first = destination.repository_ref
        return self.repository_of(first.registry, first.repository)

    def run(self) -> None:
        """Copy: manifests and what the destinations serve, the blobs (the attachments' with
        the image's), then each destination's manifests, tags and attachments. Raises only
        what rule 1 of the module's docstring names."""
        try:
            with ThreadPoolExecutor(2, thread_name_prefix="head") as side, SideWork() as aside:
                asked = aside.submit(side, self._ask_served)
                top = self.src.manifest(self.source.identifier)  # a 404: `aside` stops asking
                held = aside.submit(side, self._ask_held, top.digest)
                self.should_stop()
                selection = self._select(top)
                # Finding attachments only reads the source: alongside the destinations' HEADs.
                self.attached.start(top, selection)
                asked.result()
                held.result()
            if self.attached.checks_first(self.destinations):  # before any write
                for destination, unsigned in self.attached.refusals(self.destinations, top.digest):
                    self._fail(destination, unsigned)
            self._copy(top, selection)
        finally:
            self.attached.close()

    def _copy(self, top: Manifest, selection: IndexSelection) -> None:
        blobs = list({b.digest: b for image in selection.images for b in image.blobs}.values())
        self.progress.start(blobs * len(self.destinations))
        for destination in self.destinations:  # a blob it will not take: refused before any byte
            if (oversized := destination.oversized(blobs)) is not None:
                self._fail(destination, oversized)
        copied = CopyResult(top.digest, selection.manifest.digest, removed=selection.removed)
        copied.blobs = [b.digest for b in blobs]
        if copied.digest != top.digest:  # a changed index (attestations left out): ask again
            self._ask_held(copied.digest)
        for destination in self.destinations:
            self._skip_if_served(destination, copied, blobs)
            destination.promoted = destination.pending and destination.held == copied.digest
        pending = [d for d in self.destinations if d.pending and not d.promoted]
        for destination in pending:
            lookup = destination.mount_lookup or self.options.mount_lookup
            if lookup is not None:
                destination.holders = lookup([b.digest for b in blobs])
        for destination in self.destinations:
            if destination.pending and destination.promoted:
                for blob in blobs:  # the registry holds every blob: only tags are written
                    self.progress.blob_skipped(blob, 0)
        if pending:
            ordered = sorted(blobs, key=lambda b: b.size, reverse=True)
            tasks = [partial(self._blob, blob) for blob in ordered] + [self._attached_blobs]
            run_all(tasks, self.transfer.per_job, self.progress.abort)
        self.attached.plan()  # a source that could not be read: rule 1
        for destination in self.destinations:
            if destination.pending:
                self._finish(destination, selection, copied)

    def _ask_held(self, digest: str) -> None:
        """Ask each destination whose tags do not all serve `digest` whether it holds the
        manifest by digest (HEAD): a registry serves a manifest only once it holds its blobs
        (an index, its children), so such a destination needs only its tags written."""
        for destination in self.destinations:
            if not destination.pending or set(destination.served.values()) == {digest}:
                continue
            try:
                if self.repository(destination).served_digest(digest) == digest:
                    destination.held = digest
            except PushError as error:
                self._fail(destination, error)

    def _attached_blobs(self) -> None:
        """Copy the attachments' blobs, once found, to the destinations that take them."""
        takers = [
            d for d in self.destinations if self.attached.policy(d) is not ReferrersPolicy.SKIP
        ]
        try:
            self.attached.copy_blobs([self.repository(d) for d in takers if d.pending])
        except PushCancelled:
            if not self._given_up:
                raise

    def _carry(self, destination: Destination, result: CopyResult) -> None:
        """Write the attachments to the destination, which serves the image now."""
        self.attached.carry_to(destination, self.repository(destination), result)

    def _fail(self, destination: Destination, error: PushError) -> None:
        """Record the destination's first error; a stop is raised (rule 1), and once no
        destination is pending the other blobs are told to stop (rule 2)."""
        if isinstance(error, PushCancelled):
            raise error
        with self._lock:
            if destination.error is None:
                destination.error = error
            if not any(d.pending for d in self.destinations):
                self._given_up = True
                self.progress.abort()

    def _ask_served(self) -> None:
        for destination in self.destinations:
            repository = self.repository(destination)
            try:
                destination.served = {
                    str(r): repository.served_digest(r.identifier) for r in destination.references
                }
            except PushError as error:
                self._fail(destination, error)

    def _select(self, top: Manifest) -> IndexSelection:
        options = self.options
        return read_selection(
            self.src, top, options.attestations, options.platforms, self.should_stop
        )

    def _skip_if_served(
        self, destination: Destination, copied: CopyResult, blobs: list[Descriptor]
    ) -> None:
        """A destination whose every tag serves the digest already (a retry, a redelivery) is
        done: a registry serves a manifest only once it holds all its blobs."""
        if not destination.pending or set(destination.served.values()) != {copied.digest}:
            return
        for blob in blobs:
            self.progress.blob_skipped(blob, 0)
        done = replace(copied, served={ref: copied.digest for ref in destination.served})
        try:
            self._carry(destination, done)  # what was attached since may be missing
        except PushError as error:
            self._fail(destination, error)
            return
        destination.result = done

    def _blob(self, blob: Descriptor) -> None:
        try:
            self._blob_to_pending(blob)
        except PushCancelled:
            if not self._given_up:
                raise

    def _blob_to_pending(self, blob: Descriptor) -> None:
        """Copy one blob to every pending destination: tee one source read into their uploads,
        then copy it alone to each destination the tee could not serve."""
        self.should_stop()
        pending = [d for d in self.destinations if d.pending and not d.promoted]
        alone: list[Destination] = []
        branches: list[tuple[Destination, TeeBranch]] = []
        teeable = len(pending) > 1 and blob.size <= self.transfer.chunk_threshold
        for destination in pending:
            if not teeable:
                alone.append(destination)
                continue
            try:
                opened = self._open(destination, blob)
            except PushCancelled:
                raise
            except PushError:
                alone.append(destination)  # worth copy_blob's retries below
                continue
            if opened is not None:
                where = str(self.repository(destination))
                branches.append((destination, TeeBranch(opened, where, self.progress.add_bytes)))
        if branches:  # one of the process's stream slots, as a copy alone takes
            with self.transfer.streams.hold(self.progress, self.should_stop):
                tee_blob(self.src, blob, [branch for _, branch in branches], self.should_stop)
        for destination, branch in branches:
            if branch.error is None:
                self.progress.blob_done(blob, branch.counted)
            else:
                self.progress.add_bytes(-branch.counted)
                branch.upload.cancel()
                alone.append(destination)
        for destination in alone:
            self._copy_alone(destination, blob)

    def _open(self, destination: Destination, blob: Descriptor) -> Upload | None:
        """None when the destination has the blob or mounted it (counted); else an upload."""
        repository = self.repository(destination)
        if repository.has_blob(blob.digest):
            self.progress.blob_skipped(blob, 0)
            return None
        holder = destination.holders.get(blob.digest)
        opened = repository.mount_or_start(blob.digest, [holder] if holder else [])
        if isinstance(opened, Mounted):
            self.progress.blob_skipped(blob, 0, mounted=True)
            self._count_mount(destination)
            return None
        return opened

    def _count_mount(self, destination: Destination) -> None:
        with self._lock:
            destination.mounted += 1

    def _copy_alone(self, destination: Destination, blob: Descriptor) -> None:
        route = BlobRoute(self.src, self.repository(destination))
        holder = destination.holders.get(blob.digest)
        try:
            done = copy_blob(self.transfer, route, blob, holder, self.progress, self.should_stop)
        except PushError as error:
            self._fail(destination, error)
            return
        if done == "mounted":
            self._count_mount(destination)

    def _finish(
        self, destination: Destination, selection: IndexSelection, copied: CopyResult
    ) -> None:
        """Put the child manifests and tags on one destination and confirm what it serves."""
        repository = self.repository(destination)
        try:
            try:
                for child in [] if destination.promoted else selection.children:
                    self.should_stop()
                    if repository.served_digest(child.digest) != child.digest:
                        repository.put_manifest(child.digest, child)
                answered = push_tags(
                    self.repository_of,
                    selection.manifest,
                    destination.references,
                    self.should_stop,
                    destination.served,
                )
            except RejectedError as refused:
                raise explain_refusal(refused, selection) from None
            mine = replace(copied, served={}, blobs_mounted=destination.mounted)
            references = destination.references
            done = confirm_served(self.repository_of, mine, references, answered)
            self._carry(destination, done)
            destination.result = done
        except PushError as error:
            self._fail(destination, error)
